#include "densenn/activations.hpp"

#include <Eigen/Core>
#include <cmath>
#include <stdexcept>

#include "cpu_kernels.hpp"
#include "names.hpp"

namespace densenn {
namespace {

// Canonical names first: activation_name() returns the first entry of a kind.
const NameTable<Activation> kActivations = {
    {"linear", Activation::linear},
    {"relu", Activation::relu},
    {"relu6", Activation::relu6},
    {"sigmoid", Activation::sigmoid},
    {"tanh", Activation::tanh},
    {"softmax", Activation::softmax},
    {"log_softmax", Activation::log_softmax},
    {"elu", Activation::elu},
    {"selu", Activation::selu},
    {"softplus", Activation::softplus},
    {"softsign", Activation::softsign},
    {"silu", Activation::silu},
    {"swish", Activation::silu},
    {"gelu", Activation::gelu},
    {"hard_sigmoid", Activation::hard_sigmoid},
    {"hard_silu", Activation::hard_silu},
    {"hard_swish", Activation::hard_silu},
    {"mish", Activation::mish},
    {"exponential", Activation::exponential},
    {"leaky_relu", Activation::leaky_relu},
    {"binary_step", Activation::binary_step},
};

// keras.activations.selu's constants.
constexpr double kSeluAlpha = 1.67326324;
constexpr double kSeluScale = 1.05070098;
constexpr double kInvSqrt2 = 0.70710678118654752440;    // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)

template <class T>
using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using Rows = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstRows = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// Formulas used by more than one activation (forward and backward), written once.

// softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|): the exponent is <= 0,
// so nothing overflows and log1p keeps the small values for very negative z.
template <class D>
auto softplus_of(const Eigen::ArrayBase<D>& z) {
  using T = typename D::Scalar;
  return z.max(T(0)) + (-z.abs()).exp().log1p();
}

// sigmoid(z) = 1 / (1 + e^-z), good to a few ulp relative everywhere (Eigen's float
// logistic() is good to ~1e-8 absolute only, which z * sigmoid(z) would magnify); where
// e^-z overflows to inf the result is the correct limit 0.
template <class D>
auto sigmoid_of(const Eigen::ArrayBase<D>& z) {
  using T = typename D::Scalar;
  return T(1) / (T(1) + (-z).exp());
}

// elu(z; alpha) = z for z > 0, alpha (e^z - 1) otherwise.
template <class D>
auto elu_of(const Eigen::ArrayBase<D>& z, typename D::Scalar alpha) {
  using T = typename D::Scalar;
  return (z > T(0)).select(z, alpha * z.min(T(0)).expm1());
}

// hard_sigmoid(z) = relu6(z + 3) / 6 (Keras 3) = clip(z / 6 + 1/2, 0, 1).
template <class D>
auto hard_sigmoid_of(const Eigen::ArrayBase<D>& z) {
  using T = typename D::Scalar;
  return (z + T(3)).max(T(0)).min(T(6)) / T(6);
}

// Standard normal cdf Phi(z) = erfc(-z / sqrt 2) / 2 (erfc: no cancellation in the left tail).
template <class T>
T normal_cdf(T z) {
  return T(0.5) * std::erfc(-z * T(kInvSqrt2));
}

// Runs one kernel in a function of its own. Inlined into the big switches below, GCC gave up
// inlining Eigen's packet functions and auto-vectorising select(): relu's backward pass ran 3-4x
// and tanh's forward 1.6x slower than in a small function.
template <class F>
EIGEN_DONT_INLINE void kernel(const F& body) {
  body();
}

bool relu_is_plain(const ActivationSpec& s) { return s.alpha == 0.0 && s.threshold == 0.0; }

}  // namespace

ActivationSpec parse_activation(const std::string& name) {
  ActivationSpec spec;
  spec.kind = kActivations.parse(name, "activation");
  if (spec.kind == Activation::leaky_relu) spec.alpha = 0.2;  // keras.activations.leaky_relu's default
  if (spec.kind == Activation::elu) spec.alpha = 1.0;
  if (spec.kind == Activation::relu6) spec.max_value = 6.0;
  return spec;
}
const char* activation_name(Activation a) { return kActivations.name(a); }
std::vector<std::string> activation_names() { return kActivations.names(); }

bool activation_needs_input(const ActivationSpec& a) {
  switch (a.kind) {
    case Activation::relu:
    case Activation::relu6:
      // relu / relu6 without slope or threshold: 0 < y < max_value tells the slope.
      return !relu_is_plain(a);
    case Activation::elu:
    case Activation::leaky_relu:
      // y > 0 <=> z > 0 only while the negative branch stays <= 0.
      return a.alpha < 0.0;
    case Activation::silu:
    case Activation::gelu:
    case Activation::hard_silu:
    case Activation::mish:
      return true;  // not invertible: z is needed
    default:
      return false;
  }
}

template <class T>
void activation_forward(const ActivationSpec& spec, const T* z_ptr, T* y_ptr, long rows, long cols) {
  const long n = rows * cols;
  ConstVec<T> z(z_ptr, n);
  Vec<T> y(y_ptr, n);
  const T alpha = T(spec.alpha);
  switch (spec.kind) {
    case Activation::linear:
      if (y_ptr != z_ptr) kernel([&] { y = z; });
      break;
    case Activation::relu:
    case Activation::relu6: {
      const T max = T(spec.max_value), threshold = T(spec.threshold);
      if (!relu_is_plain(spec))  // Keras' ReLU layer; z == threshold falls below it, as Keras computes z > threshold
        kernel([&] { y = (z >= max).select(max, (z > threshold).select(z, alpha * (z - threshold))); });
      else if (std::isinf(spec.max_value) && spec.max_value > 0)
        kernel([&] { y = z.max(T(0)); });
      else
        kernel([&] { y = z.max(T(0)).min(max); });
      break;
    }
    case Activation::sigmoid:
      kernel([&] { y = z.logistic(); });
      break;
    case Activation::tanh:
      kernel([&] { y = z.tanh(); });
      break;
    case Activation::elu:
      kernel([&] { y = elu_of(z, alpha); });
      break;
    case Activation::selu:
      kernel([&] { y = T(kSeluScale) * elu_of(z, T(kSeluAlpha)); });
      break;
    case Activation::leaky_relu:
      kernel([&] { y = (z > T(0)).select(z, z * alpha); });
      break;
    case Activation::softplus:
      kernel([&] { y = softplus_of(z); });
      break;
    case Activation::softsign:
      kernel([&] { y = z / (T(1) + z.abs()); });
      break;
    case Activation::silu:
      kernel([&] { y = z * sigmoid_of(z); });
      break;
    case Activation::gelu:
      kernel([&] {
        for (long i = 0; i < n; ++i) y[i] = z[i] * normal_cdf(z[i]);
      });
      break;
    case Activation::hard_sigmoid:
      kernel([&] { y = hard_sigmoid_of(z); });
      break;
    case Activation::hard_silu:
      kernel([&] { y = z * hard_sigmoid_of(z); });
      break;
    case Activation::mish:
      kernel([&] { y = z * softplus_of(z).tanh(); });
      break;
    case Activation::exponential:
      kernel([&] { y = z.exp(); });  // overflows to inf for large z, as in Keras
      break;
    case Activation::binary_step:
      kernel([&] { y = (z >= T(0)).template cast<T>(); });
      break;
    case Activation::softmax:
      kernel([&] {
        // exp(z - max) per row keeps every exponent <= 0: no overflow.
        ConstRows<T> zr(z_ptr, rows, cols);
        Rows<T> yr(y_ptr, rows, cols);
        for (long r = 0; r < rows; ++r) {
          const T max = zr.row(r).maxCoeff();
          yr.row(r) = (zr.row(r) - max).exp();
          yr.row(r) /= yr.row(r).sum();
        }
      });
      break;
    case Activation::log_softmax:
      kernel([&] {
        // z - max - log(sum exp(z - max)), the log written as log1p(rest): the maximum's term is
        // exactly 1 and rest sums the others, so the top entries (near 0) keep their relative
        // accuracy (log of the rounded sum would be off by ~1 ulp of 1 absolute).
        ConstRows<T> zr(z_ptr, rows, cols);
        Rows<T> yr(y_ptr, rows, cols);
        Eigen::Array<T, 1, Eigen::Dynamic> e(cols);  // y may alias z: the exponentials go here
        for (long r = 0; r < rows; ++r) {
          const T max = zr.row(r).maxCoeff();
          e = (zr.row(r) - max).exp();
          long top = 0;  // (maxCoeff(&index) is not vectorised; this stops at the first maximum)
          while (top + 1 < cols && !(zr(r, top) == max)) ++top;
          e(top) = T(0);
          const T log_sum = std::log1p(e.sum());
          yr.row(r) = (zr.row(r) - max) - log_sum;  // z - max is exact for the top entries: keep it apart
        }
      });
      break;
  }
}

template <class T>
void activation_backward(const ActivationSpec& spec, const T* z_ptr, const T* y_ptr, T* g_ptr, long rows, long cols) {
  const long n = rows * cols;
  ConstVec<T> y(y_ptr, n);
  Vec<T> g(g_ptr, n);
  const T alpha = T(spec.alpha);
  // Only read where activation_needs_input(spec).
  ConstVec<T> z(z_ptr ? z_ptr : y_ptr, n);
  switch (spec.kind) {
    case Activation::linear:
      break;
    case Activation::relu:
    case Activation::relu6: {
      const T max = T(spec.max_value), threshold = T(spec.threshold);
      if (!relu_is_plain(spec))  // from z: 0 at the cap, 1 above the threshold, alpha below
        kernel([&] { g = (z >= max).select(T(0), (z > threshold).select(g, alpha * g)); });
      else if (std::isinf(spec.max_value) && spec.max_value > 0)
        kernel([&] { g = (y > T(0)).select(g, T(0)); });
      else
        kernel([&] { g = (y > T(0) && y < max).select(g, T(0)); });
      break;
    }
    case Activation::sigmoid:
      kernel([&] { g *= y * (T(1) - y); });
      break;
    case Activation::tanh:
      kernel([&] { g *= T(1) - y.square(); });
      break;
    case Activation::elu:  // y = alpha (exp(z) - 1) below zero, so dy/dz = y + alpha there
      if (activation_needs_input(spec))
        kernel([&] { g = (z > T(0)).select(g, g * (y + alpha)); });
      else
        kernel([&] { g = (y > T(0)).select(g, g * (y + alpha)); });
      break;
    case Activation::selu:  // y = scale alpha (exp(z) - 1) below zero: dy/dz = y + scale alpha
      kernel([&] { g = (y > T(0)).select(g * T(kSeluScale), g * (y + T(kSeluScale * kSeluAlpha))); });
      break;
    case Activation::leaky_relu:
      if (activation_needs_input(spec))
        kernel([&] { g = (z > T(0)).select(g, g * alpha); });
      else
        kernel([&] { g = (y > T(0)).select(g, g * alpha); });
      break;
    case Activation::softplus:  // sigmoid(z) = 1 - e^-y, as e^y = 1 + e^z
      kernel([&] { g *= -(-y).expm1(); });
      break;
    case Activation::softsign:  // 1 / (1 + |z|)^2 = (1 - |y|)^2
      kernel([&] { g *= (T(1) - y.abs()).square(); });
      break;
    case Activation::silu:  // s + z s (1 - s) = y + s (1 - y), s = sigmoid(z)
      kernel([&] { g *= y + sigmoid_of(z) * (T(1) - y); });
      break;
    case Activation::gelu:  // Phi(z) + z phi(z)
      kernel([&] {
        for (long i = 0; i < n; ++i) {
          const T zi = z[i];
          g[i] *= normal_cdf(zi) + zi * T(kInvSqrt2Pi) * std::exp(T(-0.5) * zi * zi);
        }
      });
      break;
    case Activation::hard_sigmoid:  // 1/6 on the ramp 0 < y < 1
      kernel([&] { g = (y > T(0) && y < T(1)).select(g * T(1.0 / 6.0), T(0)); });
      break;
    case Activation::hard_silu:  // hard_sigmoid(z) + z hard_sigmoid'(z)
      kernel([&] { g *= hard_sigmoid_of(z) + (z.abs() < T(3)).select(z * T(1.0 / 6.0), T(0)); });
      break;
    case Activation::mish:  // t + z (1 - t^2) sigmoid(z), t = tanh(softplus(z))
      kernel([&] {
        const Eigen::Array<T, Eigen::Dynamic, 1> t = softplus_of(z).tanh();
        g *= t + z * (T(1) - t.square()) * sigmoid_of(z);
      });
      break;
    case Activation::exponential:
      kernel([&] { g *= y; });
      break;
    case Activation::binary_step:  // a step: zero derivative everywhere (taken as 0 at z = 0 too)
      kernel([&] { g.setZero(); });
      break;
    case Activation::softmax:
      kernel([&] {
        // dz = y * (dy - <dy, y>) row by row (the softmax Jacobian product).
        ConstRows<T> yr(y_ptr, rows, cols);
        Rows<T> gr(g_ptr, rows, cols);
        for (long r = 0; r < rows; ++r) {
          const T dot = (gr.row(r) * yr.row(r)).sum();
          gr.row(r) = yr.row(r) * (gr.row(r) - dot);
        }
      });
      break;
    case Activation::log_softmax:
      kernel([&] {
        // dz = dy - softmax(z) * sum(dy) row by row, softmax(z) = exp(y).
        ConstRows<T> yr(y_ptr, rows, cols);
        Rows<T> gr(g_ptr, rows, cols);
        for (long r = 0; r < rows; ++r) {
          const T sum = gr.row(r).sum();
          gr.row(r) -= yr.row(r).exp() * sum;
        }
      });
      break;
  }
}

template void activation_forward<float>(const ActivationSpec&, const float*, float*, long, long);
template void activation_forward<double>(const ActivationSpec&, const double*, double*, long, long);
template void activation_backward<float>(const ActivationSpec&, const float*, const float*, float*, long, long);
template void activation_backward<double>(const ActivationSpec&, const double*, const double*, double*, long,
                                          long);

}  // namespace densenn
