#include "densenn/layers.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace densenn {

long shape_size(const Shape& shape) {
  long size = 1;
  for (long d : shape) size *= d;
  return size;
}

template <class T>
long Layer<T>::param_count() const {
  long total = 0;
  for (const Shape& shape : weight_shapes()) total += shape_size(shape);
  return total;
}

template <class T>
long Layer<T>::state_count() const {
  long total = 0;
  for (const Shape& shape : state_shapes()) total += shape_size(shape);
  return total;
}

template <class T>
Dense<T>::Dense(long input_dim, long units, ActivationSpec activation, bool use_bias)
    : in_(input_dim), out_(units), act_(activation), use_bias_(use_bias) {
  if (units <= 0) throw std::invalid_argument("Dense: units must be a positive integer, got " + std::to_string(units) + ".");
  if (input_dim <= 0)
    throw std::invalid_argument("Dense: input dimension must be positive, got " + std::to_string(input_dim) + ".");
}

template <class T>
std::vector<Shape> Dense<T>::weight_shapes() const {
  if (use_bias_) return {{in_, out_}, {out_}};
  return {{in_, out_}};
}

template <class T>
void Dense<T>::bind(T* params, T* grads, T* /*state*/) {
  kernel_ = params;
  dkernel_ = grads;
  bias_ = use_bias_ ? params + in_ * out_ : nullptr;
  dbias_ = use_bias_ ? grads + in_ * out_ : nullptr;
}

template <class T>
void Dense<T>::initialize(Rng& rng) {
  const double limit = std::sqrt(6.0 / double(in_ + out_));
  for (long i = 0; i < in_ * out_; ++i) kernel_[i] = T((2 * rng.uniform() - 1) * limit);
  if (bias_) std::memset(bias_, 0, sizeof(T) * out_);
}

template <class T>
void Dense<T>::forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& /*ctx*/) {
  T* z = scratch_size(rows) ? scratch : y;
  be.matmul(false, false, rows, out_, in_, x, kernel_, z, false);
  be.bias_activation_forward(act_, bias_, z, y, rows, out_);
}

template <class T>
void Dense<T>::backward(Backend<T>& be, const T* x, const T* y, const T* scratch, T* grad, T* dx, long rows,
                        bool grad_is_logits) {
  if (!grad_is_logits) be.activation_backward(act_, scratch, y, grad, rows, out_);
  be.matmul(true, false, in_, out_, rows, x, grad, dkernel_, false);  // dW = x^T dz
  if (dbias_) be.bias_gradient(grad, dbias_, rows, out_);
  if (dx) be.matmul(false, true, rows, in_, out_, grad, kernel_, dx, false);  // dx = dz W^T
}

template <class T>
void ActivationLayer<T>::forward(Backend<T>& be, const T* x, T* y, T* /*scratch*/, long rows,
                                 const PassContext& /*ctx*/) {
  std::memcpy(y, x, sizeof(T) * rows * dim_);
  be.bias_activation_forward(act_, nullptr, y, y, rows, dim_);
}

template <class T>
void ActivationLayer<T>::backward(Backend<T>& be, const T* x, const T* y, const T* /*scratch*/, T* grad, T* dx,
                                  long rows, bool grad_is_logits) {
  if (!grad_is_logits) be.activation_backward(act_, x, y, grad, rows, dim_);
  if (dx) std::memcpy(dx, grad, sizeof(T) * rows * dim_);
}

namespace {

double option(const LayerConfig& config, const char* name, double fallback) {
  auto it = config.options.find(name);
  return it == config.options.end() ? fallback : it->second;
}

// The activation named in the config, with any parameters the layer sets.
ActivationSpec activation_of(const LayerConfig& config) {
  ActivationSpec spec = parse_activation(config.activation);
  spec.alpha = option(config, "alpha", spec.alpha);
  spec.max_value = option(config, "max_value", spec.max_value);
  spec.threshold = option(config, "threshold", spec.threshold);
  return spec;
}

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_layer(const LayerConfig& config, long input_dim) {
  const ActivationSpec act = activation_of(config);
  if (config.type == "dense") return std::make_unique<Dense<T>>(input_dim, config.units, act, config.use_bias);
  if (config.type == "activation") return std::make_unique<ActivationLayer<T>>(input_dim, act);
  throw std::invalid_argument("Unknown layer type '" + config.type + "'. Valid types: dense, activation.");
}

template class Layer<float>;
template class Layer<double>;
template class Dense<float>;
template class Dense<double>;
template class ActivationLayer<float>;
template class ActivationLayer<double>;
template std::unique_ptr<Layer<float>> make_layer<float>(const LayerConfig&, long);
template std::unique_ptr<Layer<double>> make_layer<double>(const LayerConfig&, long);

}  // namespace densenn
