#include "densenn/layers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
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
Dense<T>::Dense(long input_dim, long units, ActivationSpec activation, bool use_bias, Options options)
    : in_(input_dim), out_(units), act_(activation), use_bias_(use_bias), options_(options) {
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
void Dense<T>::bind(T* params, T* /*state*/) {
  kernel_ = params;
  bias_ = use_bias_ ? params + in_ * out_ : nullptr;
}

template <class T>
void Dense<T>::initialize(Rng& rng) {
  densenn::initialize(options_.kernel_initializer, kernel_, {in_, out_}, rng, "kernel_initializer");
  if (bias_) densenn::initialize(options_.bias_initializer, bias_, {out_}, rng, "bias_initializer");
}

namespace {

template <class T>
double penalty_of(Backend<T>& be, const Penalty& p, const T* v, long n) {
  return p.active() ? be.penalty(p.l1, p.l2, v, n) : 0.0;
}

// grad += scale * d(penalty)/dv
template <class T>
void add_penalty_gradient(Backend<T>& be, const Penalty& p, const T* v, T* grad, long n, double scale) {
  if (p.active()) be.add_penalty_gradient(p.l1, p.l2, v, grad, n, scale);
}

}  // namespace

template <class T>
bool Dense<T>::splits_by_rows() const {
  return !options_.kernel_penalty.active() && !options_.bias_penalty.active() && !options_.activity_penalty.active();
}

template <class T>
double Dense<T>::penalty(Backend<T>& be, const T* y, long rows) const {
  double total = 0;  // weight penalties count for trainable weights only, as Keras' regularization losses
  if (this->trainable_) total += penalty_of(be, options_.kernel_penalty, kernel_, in_ * out_);
  if (bias_ && this->trainable_) total += penalty_of(be, options_.bias_penalty, bias_, out_);
  if (options_.activity_penalty.active())
    total += penalty_of(be, options_.activity_penalty, y, rows * out_) / double(rows);
  return total;
}

template <class T>
void Dense<T>::forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) {
  T* z = pre_activation(y, scratch, rows);
  partial_product(be, x, 0, in_, z, rows);
  // A NaN or an infinity in a row of x makes every product of that row NaN or infinite, whatever the weights:
  // x's check reads z, still in cache, and x itself only when z holds one (an overflow or the weights may too).
  if (ctx.input_finite && !be.all_finite(z, std::size_t(rows * out_)))
    *ctx.input_finite = be.all_finite(x, std::size_t(rows * in_));
  activate(be, y, scratch, rows);
}

template <class T>
void Dense<T>::partial_product(Backend<T>& be, const T* x_part, long first, long count, T* z_part, long rows) const {
  be.matmul(false, false, rows, out_, count, x_part, kernel_ + first * out_, z_part, false);
}

template <class T>
void Dense<T>::activate(Backend<T>& be, T* y, T* scratch, long rows) const {
  be.bias_activation_forward(act_, bias_, pre_activation(y, scratch, rows), y, rows, out_);
}

template <class T>
void Dense<T>::backward(Backend<T>& be, const T* x, const T* y, T* scratch, T* grad, T* dx, long rows,
                        bool grad_is_logits, T* param_grads) {
  output_gradient(be, y, scratch, grad, rows, grad_is_logits, param_grads);
  kernel_gradient(be, x, 0, in_, grad, rows, param_grads);
  if (dx) be.matmul(false, true, rows, in_, out_, grad, kernel_, dx, false);  // dx = dz W^T
  if (param_grads) add_penalty_gradient(be, options_.kernel_penalty, kernel_, param_grads, in_ * out_, 1.0);
}

template <class T>
void Dense<T>::output_gradient(Backend<T>& be, const T* y, const T* scratch, T* grad, long rows,
                               bool grad_is_logits, T* param_grads) const {
  add_penalty_gradient(be, options_.activity_penalty, y, grad, rows * out_, 1.0 / double(rows));
  if (!grad_is_logits) be.activation_backward(act_, scratch, y, grad, rows, out_);
  if (!bias_ || !param_grads) return;
  T* dbias = param_grads + in_ * out_;
  be.bias_gradient(grad, dbias, rows, out_);
  add_penalty_gradient(be, options_.bias_penalty, bias_, dbias, out_, 1.0);
}

template <class T>
void Dense<T>::kernel_gradient(Backend<T>& be, const T* x_part, long first, long count, const T* grad, long rows,
                               T* param_grads) const {
  if (param_grads)  // dW = x^T dz
    be.matmul(true, false, count, out_, rows, x_part, grad, param_grads + first * out_, false);
}

template <class T>
void ActivationLayer<T>::forward(Backend<T>& be, const T* x, T* y, T* /*scratch*/, long rows,
                                 const PassContext& /*ctx*/) {
  be.copy(x, y, std::size_t(rows * dim_));
  be.bias_activation_forward(act_, nullptr, y, y, rows, dim_);
}

template <class T>
void ActivationLayer<T>::backward(Backend<T>& be, const T* x, const T* y, T* /*scratch*/, T* grad, T* dx,
                                  long rows, bool grad_is_logits, T* /*param_grads*/) {
  if (!grad_is_logits) be.activation_backward(act_, x, y, grad, rows, dim_);
  if (dx) be.copy(grad, dx, std::size_t(rows * dim_));
}

template <class T>
Dropout<T>::Dropout(long dim, double rate, std::optional<std::uint64_t> seed)
    : dim_(dim), rate_(rate), own_rng_(seed.has_value()), rng_(seed.value_or(0)) {
  if (!(rate >= 0 && rate < 1))
    throw std::invalid_argument("Dropout: rate must be in [0, 1), got " + std::to_string(rate) + ".");
}

template <class T>
void Dropout<T>::forward(Backend<T>& be, const T* x, T* y, T* mask, long rows, const PassContext& ctx) {
  const long n = rows * dim_;
  if (!ctx.training || rate_ == 0) {
    be.copy(x, y, std::size_t(n));
    return;
  }
  Rng& rng = own_rng_ ? rng_ : *ctx.rng;
  // A block of a batch draws the whole batch's masks (one draw per value, in order) and keeps its own rows'.
  const bool block = ctx.batch_rows > 0;
  if (block) rng.discard(std::uint64_t(ctx.batch_first * dim_));
  be.dropout_forward(rate_, rng, x, y, mask, n);
  if (block) rng.discard(std::uint64_t((ctx.batch_rows - ctx.batch_first - rows) * dim_));
}

template <class T>
void Dropout<T>::backward(Backend<T>& be, const T* /*x*/, const T* /*y*/, T* mask, T* grad, T* dx, long rows,
                          bool /*grad_is_logits*/, T* /*param_grads*/) {
  if (!dx) return;
  const long n = rows * dim_;
  if (rate_ == 0)
    be.copy(grad, dx, std::size_t(n));
  else
    be.dropout_backward(mask, grad, dx, n);
}

template <class T>
BatchNormalization<T>::BatchNormalization(long dim, double momentum, double epsilon, bool center, bool scale)
    : dim_(dim), momentum_(momentum), epsilon_(epsilon), center_(center), scale_(scale) {
  if (!(momentum >= 0 && momentum <= 1))
    throw std::invalid_argument("BatchNormalization: momentum must be in [0, 1], got " + std::to_string(momentum) + ".");
  if (!(epsilon > 0))
    throw std::invalid_argument("BatchNormalization: epsilon must be > 0, got " + std::to_string(epsilon) + ".");
}

template <class T>
std::vector<Shape> BatchNormalization<T>::weight_shapes() const {
  std::vector<Shape> shapes;
  if (scale_) shapes.push_back({dim_});
  if (center_) shapes.push_back({dim_});
  return shapes;
}

template <class T>
void BatchNormalization<T>::bind(T* params, T* state) {
  gamma_ = scale_ ? params : nullptr;
  beta_ = center_ ? params + (scale_ ? dim_ : 0) : nullptr;
  moving_mean_ = state;
  moving_variance_ = state + dim_;
}

template <class T>
void BatchNormalization<T>::initialize(Rng& /*rng*/) {
  for (long j = 0; j < dim_; ++j) {
    if (gamma_) gamma_[j] = T(1);
    if (beta_) beta_[j] = T(0);
    moving_mean_[j] = T(0);
    moving_variance_[j] = T(1);
  }
}

template <class T>
void BatchNormalization<T>::forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& ctx) {
  // Frozen, it normalizes with the moving statistics also in training, as Keras 3 does.
  be.batch_norm_forward(weights(), ctx.training && this->trainable_, x, scratch, scratch + rows * dim_, y, rows);
}

template <class T>
void BatchNormalization<T>::backward(Backend<T>& be, const T* /*x*/, const T* /*y*/, T* scratch, T* grad, T* dx,
                                     long rows, bool /*grad_is_logits*/, T* param_grads) {
  T* dgamma = scale_ && param_grads ? param_grads : nullptr;
  T* dbeta = center_ && param_grads ? param_grads + (scale_ ? dim_ : 0) : nullptr;
  be.batch_norm_backward(weights(), this->trainable_, scratch, scratch + rows * dim_, grad, dx, dgamma, dbeta, rows);
}

template <class T>
Maxout<T>::Maxout(long input_dim, long units, long pieces) : in_(input_dim), units_(units), pieces_(pieces) {
  if (units <= 0) throw std::invalid_argument("Maxout: units must be a positive integer, got " + std::to_string(units) + ".");
  if (pieces < 1) throw std::invalid_argument("Maxout: pieces must be >= 1, got " + std::to_string(pieces) + ".");
  if (pieces > kMaxWidth / units)  // its pre-activation width, units * pieces, is a width like any other
    throw std::invalid_argument("units * pieces = " + std::to_string(units) + " * " + std::to_string(pieces) +
                                " is more than densenn's limit of " + std::to_string(kMaxWidth) + " (2**31 - 1).");
}

template <class T>
void Maxout<T>::bind(T* params, T* /*state*/) {
  kernel_ = params;
  bias_ = params + in_ * units_ * pieces_;
}

template <class T>
void Maxout<T>::initialize(Rng& rng) {
  densenn::initialize(InitializerSpec{}, kernel_, {in_, units_ * pieces_}, rng, "kernel_initializer");
  std::fill(bias_, bias_ + units_ * pieces_, T(0));
}

template <class T>
void Maxout<T>::forward(Backend<T>& be, const T* x, T* y, T* scratch, long rows, const PassContext& /*ctx*/) {
  const long width = units_ * pieces_;
  T* z = scratch;
  be.matmul(false, false, rows, width, in_, x, kernel_, z, false);
  be.bias_activation_forward(ActivationSpec{}, bias_, z, z, rows, width);
  be.maxout_forward(z, y, rows, units_, pieces_);
}

template <class T>
void Maxout<T>::backward(Backend<T>& be, const T* x, const T* /*y*/, T* scratch, T* grad, T* dx, long rows,
                         bool /*grad_is_logits*/, T* param_grads) {
  const long width = units_ * pieces_;
  const T* z = scratch;
  T* dz = scratch + rows * width;
  be.maxout_backward(z, grad, dz, rows, units_, pieces_);  // the gradient flows to each unit's winning piece
  if (param_grads) {
    be.matmul(true, false, in_, width, rows, x, dz, param_grads, false);
    be.bias_gradient(dz, param_grads + in_ * width, rows, width);
  }
  if (dx) be.matmul(false, true, rows, in_, width, dz, kernel_, dx, false);
}

namespace {

std::string number_text(double v) {  // the fewest digits that read back as v
  char text[32];
  for (int d = 1; d <= 17; ++d) {
    std::snprintf(text, sizeof text, "%.*g", d, v);
    if (std::strtod(text, nullptr) == v) break;
  }
  return text;
}

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

// A seed travels as text (exact for all 64 bits); none given: nullopt.
std::optional<std::uint64_t> seed_of(const LayerConfig& config, const std::string& key) {
  auto it = config.choices.find(key);
  if (it == config.choices.end()) return std::nullopt;
  try {
    std::size_t used = 0;
    const unsigned long long seed = std::stoull(it->second, &used);
    if (used == it->second.size() && it->second[0] != '-') return seed;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(key + ": expected an integer seed in [0, 2**64), got '" + it->second + "'.");
}

InitializerSpec initializer_of(const LayerConfig& config, const std::string& key, const char* fallback) {
  auto it = config.choices.find(key);
  InitializerSpec spec = parse_initializer(it == config.choices.end() ? fallback : it->second);
  spec.mean = option(config, (key + ".mean").c_str(), spec.mean);
  spec.stddev = option(config, (key + ".stddev").c_str(), spec.stddev);
  spec.minval = option(config, (key + ".minval").c_str(), spec.minval);
  spec.maxval = option(config, (key + ".maxval").c_str(), spec.maxval);
  spec.value = option(config, (key + ".value").c_str(), spec.value);
  spec.seed = seed_of(config, key + ".seed");
  validate(spec);
  return spec;
}

Penalty penalty_of(const LayerConfig& config, const std::string& key) {
  Penalty p{option(config, (key + ".l1").c_str(), 0.0), option(config, (key + ".l2").c_str(), 0.0)};
  if (!(p.l1 >= 0 && p.l2 >= 0 && std::isfinite(p.l1) && std::isfinite(p.l2)))
    throw std::invalid_argument(key + ": l1 and l2 must be finite and >= 0.");
  return p;
}

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_layer(const LayerConfig& config, long input_dim) {
  const std::string& type = config.type;
  if (type == "dense") {
    typename Dense<T>::Options options{initializer_of(config, "kernel_initializer", "glorot_uniform"),
                                       initializer_of(config, "bias_initializer", "zeros"),
                                       penalty_of(config, "kernel_regularizer"), penalty_of(config, "bias_regularizer"),
                                       penalty_of(config, "activity_regularizer")};
    return std::make_unique<Dense<T>>(input_dim, config.units, activation_of(config), config.use_bias, options);
  }
  if (type == "activation") return std::make_unique<ActivationLayer<T>>(input_dim, activation_of(config));
  if (type == "dropout")
    return std::make_unique<Dropout<T>>(input_dim, option(config, "rate", 0.5), seed_of(config, "seed"));
  if (type == "batch_normalization")
    return std::make_unique<BatchNormalization<T>>(input_dim, option(config, "momentum", 0.99),
                                                   option(config, "epsilon", 1e-3), option(config, "center", 1) != 0,
                                                   option(config, "scale", 1) != 0);
  if (type == "maxout") {
    const double pieces = option(config, "pieces", 2);
    if (!(pieces >= 1 && pieces <= double(kMaxWidth) && pieces == std::floor(pieces)))
      throw std::invalid_argument("pieces must be an integer in [1, " + std::to_string(kMaxWidth) + "], got " +
                                  number_text(pieces) + ".");
    return std::make_unique<Maxout<T>>(input_dim, config.units, long(pieces));
  }
  throw std::invalid_argument("Unknown layer type '" + type +
                              "'. Valid types: dense, activation, dropout, batch_normalization, maxout.");
}

template class Layer<float>;
template class Layer<double>;
template class Dense<float>;
template class Dense<double>;
template class ActivationLayer<float>;
template class ActivationLayer<double>;
template class Dropout<float>;
template class Dropout<double>;
template class BatchNormalization<float>;
template class BatchNormalization<double>;
template class Maxout<float>;
template class Maxout<double>;
template std::unique_ptr<Layer<float>> make_layer<float>(const LayerConfig&, long);
template std::unique_ptr<Layer<double>> make_layer<double>(const LayerConfig&, long);

}  // namespace densenn
