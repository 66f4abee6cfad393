// Layers of a Sequential model. A layer owns no parameters: the model binds
// it to slices of its flat parameter and gradient buffers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "densenn/activations.hpp"
#include "densenn/backend.hpp"
#include "densenn/random.hpp"

namespace densenn {

// What the Python front (or a model file) says about one layer.
struct LayerConfig {
  std::string type;  // "dense" or "activation"
  long units = 0;    // dense only
  std::string activation = "linear";
  bool use_bias = true;  // dense only
};

using Shape = std::vector<long>;

template <class T>
class Layer {
 public:
  virtual ~Layer() = default;
  virtual const char* type() const = 0;
  virtual long input_dim() const = 0;
  virtual long output_dim() const = 0;
  // Shapes of the weights in Keras' get_weights() order; their sizes sum to param_count().
  virtual std::vector<Shape> weight_shapes() const { return {}; }
  long param_count() const;
  virtual void bind(T* /*params*/, T* /*grads*/) {}
  virtual void initialize(Rng& /*rng*/) {}
  // The activation applied last, which the loss may fuse with.
  virtual Activation output_activation() const = 0;
  // Values per row the layer needs kept between forward and backward besides
  // its output (the caller owns that scratch, so one model can run several
  // forward passes at once, each with its own buffers).
  virtual long scratch_cols() const { return 0; }

  virtual void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows) = 0;
  // grad holds dL/dy on entry (dL/d(pre-activation) when grad_is_logits) and
  // may be overwritten; dx receives dL/dx unless null. Parameter gradients
  // go to the bound gradient buffer.
  virtual void backward(Backend<T>& be, const T* x, const T* y, const T* scratch, T* grad, T* dx, long rows,
                        bool grad_is_logits) = 0;
};

template <class T>
class Dense final : public Layer<T> {
 public:
  Dense(long input_dim, long units, Activation activation, bool use_bias);
  const char* type() const override { return "dense"; }
  long input_dim() const override { return in_; }
  long output_dim() const override { return out_; }
  std::vector<Shape> weight_shapes() const override;
  void bind(T* params, T* grads) override;
  void initialize(Rng& rng) override;  // glorot-uniform kernel, zero bias
  Activation output_activation() const override { return act_; }
  // Pre-activations, kept only when the activation's derivative needs them.
  long scratch_cols() const override { return activation_needs_input(act_) ? out_ : 0; }
  void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows) override;
  void backward(Backend<T>& be, const T* x, const T* y, const T* scratch, T* grad, T* dx, long rows,
                bool grad_is_logits) override;

 private:
  long in_, out_;
  Activation act_;
  bool use_bias_;
  T *kernel_ = nullptr, *bias_ = nullptr, *dkernel_ = nullptr, *dbias_ = nullptr;
};

template <class T>
class ActivationLayer final : public Layer<T> {
 public:
  ActivationLayer(long dim, Activation activation) : dim_(dim), act_(activation) {}
  const char* type() const override { return "activation"; }
  long input_dim() const override { return dim_; }
  long output_dim() const override { return dim_; }
  Activation output_activation() const override { return act_; }
  void forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows) override;
  void backward(Backend<T>& be, const T* x, const T* y, const T* scratch, T* grad, T* dx, long rows,
                bool grad_is_logits) override;

 private:
  long dim_;
  Activation act_;
};

// Builds the layer described by `config` for inputs of width input_dim;
// throws std::invalid_argument for a bad configuration.
template <class T>
std::unique_ptr<Layer<T>> make_layer(const LayerConfig& config, long input_dim);

}  // namespace densenn
