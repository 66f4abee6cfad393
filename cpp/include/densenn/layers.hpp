// Layers of a Sequential model. A layer owns no numbers: the model binds it
// to slices of its flat buffers (trainable parameters and non-trainable state
// such as moving statistics), each backward pass says where the parameters'
// gradients go, and each caller of a forward pass provides the scratch memory
// the layer asks for. A layer computes only through the Backend it is given;
// it writes its buffers itself only to initialize them.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "densenn/activations.hpp"
#include "densenn/backend.hpp"
#include "densenn/initializers.hpp"
#include "densenn/random.hpp"

namespace densenn {

// What the Python front (or a model file) says about one layer: Keras'
// layer arguments, numeric ones in `options` (alpha, rate, momentum, ...)
// and named ones in `choices` (kernel_initializer, ...).
struct LayerConfig {
  std::string type;  // "dense", "activation", ...
  long units = 0;
  std::string activation = "linear";
  bool use_bias = true;
  std::map<std::string, double> options;
  std::map<std::string, std::string> choices;
};

using Shape = std::vector<long>;

// The widest a model's input or a layer's output (a Maxout's units * pieces too) may be: the C API's int sizes.
constexpr long kMaxWidth = (1L << 31) - 1;
// The most weights and statistics a model may have: beyond any machine's memory, far below where 64-bit size
// arithmetic could overflow.
constexpr double kMaxWeights = double(1ULL << 40);

// A layer that cannot be built as configured: `index` is its place in the model (0-based), so the caller can
// name it; what() says "layer <index> (<type>): <detail>".
struct LayerError : std::invalid_argument {
  LayerError(std::size_t index, const std::string& type, const std::string& detail)
      : std::invalid_argument("layer " + std::to_string(index) + " (" + type + "): " + detail), index(index),
        detail(detail) {}
  std::size_t index;
  std::string detail;
};

long shape_size(const Shape& shape);

// Keras' L1/L2 regularizer: penalty = l1 * sum|v| + l2 * sum v^2.
struct Penalty {
  double l1 = 0.0, l2 = 0.0;
  bool active() const { return l1 != 0.0 || l2 != 0.0; }
};

// What a forward pass is for: training (dropout active, batch statistics)
// or inference, and the generator for training-time noise.
struct PassContext {
  bool training = false;
  Rng* rng = nullptr;  // non-null when training
  // The rows are a block of a larger batch (data parallelism): its first row, and the whole batch's rows (0: the
  // rows are the batch). Training noise is drawn for the whole batch, so a row's does not depend on the split.
  long batch_first = 0, batch_rows = 0;
  // When set, the pass also tells whether its input rows are all finite (a predict's check of x, which then
  // costs next to nothing): false in it when they are not, the pass's outputs then being of no use.
  bool* input_finite = nullptr;
};

template <class T>
class Layer {
 public:
  virtual ~Layer() = default;
  virtual const char* type() const = 0;
  virtual long input_dim() const = 0;
  virtual long output_dim() const = 0;
  // Trainable weights in Keras' get_weights() order, then non-trainable state.
  virtual std::vector<Shape> weight_shapes() const { return {}; }
  virtual std::vector<Shape> state_shapes() const { return {}; }
  long param_count() const;
  long state_count() const;
  virtual void bind(T* /*params*/, T* /*state*/) {}
  virtual void initialize(Rng& /*rng*/) {}
  // The activation applied last, which the loss may fuse with.
  virtual ActivationSpec output_activation() const { return {}; }
  // Values the layer keeps between forward and backward for a batch of
  // `rows` rows, besides its output.
  virtual long scratch_size(long /*rows*/) const { return 0; }
  // Regularization added to the loss: weight penalties, and the activity
  // penalty of this batch's output y (averaged over its rows, as Keras 3).
  // Its gradient is added in backward.
  virtual double penalty(Backend<T>& /*be*/, const T* /*y*/, long /*rows*/) const { return 0.0; }
  // Whether the penalty depends on the output (the loss then cannot fuse
  // with this layer's activation, whose output gradient it needs).
  virtual bool penalizes_output() const { return false; }
  // A generator the layer owns (a seeded Dropout's), whose state a model file saves; null if none.
  virtual Rng* own_rng() { return nullptr; }
  // Whether a training pass over a batch may run as independent blocks of rows whose parameter gradients
  // add up to the batch's: not when the layer couples the rows (batch statistics), draws random numbers in
  // row order, or adds a penalty (which must count once per batch, not once per block).
  virtual bool splits_by_rows() const { return true; }
  // A frozen layer (Keras' trainable = False): its weights are not updated and get no gradients (backward
  // receives null param_grads), its weight penalties leave the loss, and BatchNormalization runs in
  // inference mode. Set by the model when it is compiled.
  bool trainable() const { return trainable_; }
  void set_trainable(bool trainable) { trainable_ = trainable; }

  virtual void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) = 0;
  // Whether forward sets ctx.input_finite itself (else the model reads x to tell).
  virtual bool tells_input_finite() const { return false; }
  // grad holds dL/dy on entry (dL/d(pre-activation) when grad_is_logits) and
  // may be overwritten; dx receives dL/dx unless null; param_grads (laid out
  // as the bound parameters) receives the parameters' gradients unless null.
  virtual void backward(Backend<T>& be, const T* x, const T* y, T* scratch, T* grad, T* dx, long rows,
                        bool grad_is_logits, T* param_grads) = 0;

 protected:
  bool trainable_ = true;
};

template <class T>
class Dense final : public Layer<T> {
 public:
  struct Options {
    InitializerSpec kernel_initializer;  // glorot_uniform
    InitializerSpec bias_initializer{Initializer::zeros};
    Penalty kernel_penalty, bias_penalty, activity_penalty;
  };
  Dense(long input_dim, long units, ActivationSpec activation, bool use_bias, Options options);
  const char* type() const override { return "dense"; }
  long input_dim() const override { return in_; }
  long output_dim() const override { return out_; }
  std::vector<Shape> weight_shapes() const override;
  void bind(T* params, T* state) override;
  void initialize(Rng& rng) override;
  ActivationSpec output_activation() const override { return act_; }
  // Pre-activations, kept only when the activation's derivative needs them.
  long scratch_size(long rows) const override { return activation_needs_input(act_) ? rows * out_ : 0; }
  double penalty(Backend<T>& be, const T* y, long rows) const override;
  bool penalizes_output() const override { return options_.activity_penalty.active(); }
  bool splits_by_rows() const override;
  void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) override;
  bool tells_input_finite() const override { return true; }
  void backward(Backend<T>& be, const T* x, const T* y, T* scratch, T* grad, T* dx, long rows,
                bool grad_is_logits, T* param_grads) override;

  // forward and backward in parts, for a batch whose inputs are split between threads by columns (Sequential's
  // input-split pass): x_part is the batch's inputs [first, first + count) (rows x count), z_part receives its
  // product with the kernel's rows [first, first + count), the parts' sum goes to pre_activation(), activate()
  // adds the bias and applies the activation; output_gradient() turns dL/dy in grad into dL/dz (and the bias
  // gradient), from which kernel_gradient() computes the kernel's rows [first, first + count).
  void partial_product(Backend<T>& be, const T* x_part, long first, long count, T* z_part, long rows) const;
  T* pre_activation(T* y, T* scratch, long rows) const { return scratch_size(rows) ? scratch : y; }
  void activate(Backend<T>& be, T* y, T* scratch, long rows) const;
  void output_gradient(Backend<T>& be, const T* y, const T* scratch, T* grad, long rows, bool grad_is_logits,
                       T* param_grads) const;
  void kernel_gradient(Backend<T>& be, const T* x_part, long first, long count, const T* grad, long rows,
                       T* param_grads) const;

 private:
  long in_, out_;
  ActivationSpec act_;
  bool use_bias_;
  Options options_;
  T *kernel_ = nullptr, *bias_ = nullptr;
};

// Inverted dropout: in training, zeroes each value with probability `rate`
// and scales the rest by 1/(1 - rate); the identity in inference.
template <class T>
class Dropout final : public Layer<T> {
 public:
  // No seed: draw from the model's generator; else from the layer's own.
  Dropout(long dim, double rate, std::optional<std::uint64_t> seed);
  const char* type() const override { return "dropout"; }
  Rng* own_rng() override { return own_rng_ ? &rng_ : nullptr; }
  bool splits_by_rows() const override { return rate_ == 0; }
  long input_dim() const override { return dim_; }
  long output_dim() const override { return dim_; }
  long scratch_size(long rows) const override { return rows * dim_; }  // the scaled mask
  void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) override;
  void backward(Backend<T>& be, const T* x, const T* y, T* scratch, T* grad, T* dx, long rows,
                bool grad_is_logits, T* param_grads) override;

 private:
  long dim_;
  double rate_;
  bool own_rng_;
  Rng rng_;
};

// Batch normalization over the features: batch statistics (biased variance)
// in training, which also update the moving statistics; moving statistics in
// inference. Weights: gamma (if scale), beta (if center); state: moving mean
// and moving variance.
template <class T>
class BatchNormalization final : public Layer<T> {
 public:
  BatchNormalization(long dim, double momentum, double epsilon, bool center, bool scale);
  const char* type() const override { return "batch_normalization"; }
  long input_dim() const override { return dim_; }
  long output_dim() const override { return dim_; }
  std::vector<Shape> weight_shapes() const override;
  std::vector<Shape> state_shapes() const override { return {{dim_}, {dim_}}; }
  void bind(T* params, T* state) override;
  void initialize(Rng& rng) override;  // gamma 1, beta 0, moving mean 0, moving variance 1
  bool splits_by_rows() const override { return false; }
  long scratch_size(long rows) const override { return rows * dim_ + dim_; }  // x_hat, 1/std
  void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) override;
  void backward(Backend<T>& be, const T* x, const T* y, T* scratch, T* grad, T* dx, long rows,
                bool grad_is_logits, T* param_grads) override;

 private:
  BatchNormWeights<T> weights() const { return {dim_, momentum_, epsilon_, gamma_, beta_, moving_mean_, moving_variance_}; }

  long dim_;
  double momentum_, epsilon_;
  bool center_, scale_;
  T *gamma_ = nullptr, *beta_ = nullptr;
  T *moving_mean_ = nullptr, *moving_variance_ = nullptr;
};

// Maxout (Goodfellow et al.): `pieces` affine maps per unit and their
// maximum. Kernel (in, units * pieces) and bias (units * pieces), the pieces
// of unit u in columns u * pieces ... u * pieces + pieces - 1.
template <class T>
class Maxout final : public Layer<T> {
 public:
  Maxout(long input_dim, long units, long pieces);
  const char* type() const override { return "maxout"; }
  long input_dim() const override { return in_; }
  long output_dim() const override { return units_; }
  std::vector<Shape> weight_shapes() const override { return {{in_, units_ * pieces_}, {units_ * pieces_}}; }
  void bind(T* params, T* state) override;
  void initialize(Rng& rng) override;  // glorot-uniform kernel, zero bias
  long scratch_size(long rows) const override { return 2 * rows * units_ * pieces_; }  // z, dz
  void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) override;
  void backward(Backend<T>& be, const T* x, const T* y, T* scratch, T* grad, T* dx, long rows,
                bool grad_is_logits, T* param_grads) override;

 private:
  long in_, units_, pieces_;
  T *kernel_ = nullptr, *bias_ = nullptr;
};

template <class T>
class ActivationLayer final : public Layer<T> {
 public:
  ActivationLayer(long dim, ActivationSpec activation) : dim_(dim), act_(activation) {}
  const char* type() const override { return "activation"; }
  long input_dim() const override { return dim_; }
  long output_dim() const override { return dim_; }
  ActivationSpec output_activation() const override { return act_; }
  void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) override;
  void backward(Backend<T>& be, const T* x, const T* y, T* scratch, T* grad, T* dx, long rows,
                bool grad_is_logits, T* param_grads) override;

 private:
  long dim_;
  ActivationSpec act_;
};

// Builds the layer described by `config` for inputs of width input_dim;
// throws std::invalid_argument for a bad configuration.
template <class T>
std::unique_ptr<Layer<T>> make_layer(const LayerConfig& config, long input_dim);

}  // namespace densenn
