// Layers of a Sequential model. A layer owns no numbers: the model binds it
// to slices of its flat buffers (trainable parameters, their gradients, and
// non-trainable state such as moving statistics), and each caller of a
// forward pass provides the scratch memory the layer asks for.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "densenn/activations.hpp"
#include "densenn/backend.hpp"
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

long shape_size(const Shape& shape);

// What a forward pass is for: training (dropout active, batch statistics)
// or inference, and the generator for training-time noise.
struct PassContext {
  bool training = false;
  Rng* rng = nullptr;  // non-null when training
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
  virtual void bind(T* /*params*/, T* /*grads*/, T* /*state*/) {}
  virtual void initialize(Rng& /*rng*/) {}
  // The activation applied last, which the loss may fuse with.
  virtual ActivationSpec output_activation() const { return {}; }
  // Values the layer keeps between forward and backward for a batch of
  // `rows` rows, besides its output.
  virtual long scratch_size(long /*rows*/) const { return 0; }

  virtual void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) = 0;
  // grad holds dL/dy on entry (dL/d(pre-activation) when grad_is_logits) and
  // may be overwritten; dx receives dL/dx unless null. Parameter gradients
  // go to the bound gradient buffer.
  virtual void backward(Backend<T>& be, const T* x, const T* y, const T* scratch, T* grad, T* dx, long rows,
                        bool grad_is_logits) = 0;
};

template <class T>
class Dense final : public Layer<T> {
 public:
  Dense(long input_dim, long units, ActivationSpec activation, bool use_bias);
  const char* type() const override { return "dense"; }
  long input_dim() const override { return in_; }
  long output_dim() const override { return out_; }
  std::vector<Shape> weight_shapes() const override;
  void bind(T* params, T* grads, T* state) override;
  void initialize(Rng& rng) override;  // glorot-uniform kernel, zero bias
  ActivationSpec output_activation() const override { return act_; }
  // Pre-activations, kept only when the activation's derivative needs them.
  long scratch_size(long rows) const override { return activation_needs_input(act_) ? rows * out_ : 0; }
  void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) override;
  void backward(Backend<T>& be, const T* x, const T* y, const T* scratch, T* grad, T* dx, long rows,
                bool grad_is_logits) override;

 private:
  long in_, out_;
  ActivationSpec act_;
  bool use_bias_;
  T *kernel_ = nullptr, *bias_ = nullptr, *dkernel_ = nullptr, *dbias_ = nullptr;
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
  void backward(Backend<T>& be, const T* x, const T* y, const T* scratch, T* grad, T* dx, long rows,
                bool grad_is_logits) override;

 private:
  long dim_;
  ActivationSpec act_;
};

// Builds the layer described by `config` for inputs of width input_dim;
// throws std::invalid_argument for a bad configuration.
template <class T>
std::unique_ptr<Layer<T>> make_layer(const LayerConfig& config, long input_dim);

}  // namespace densenn
