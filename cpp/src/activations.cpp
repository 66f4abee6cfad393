#include "densenn/activations.hpp"

#include <Eigen/Core>
#include <stdexcept>

#include "names.hpp"

namespace densenn {
namespace {

const NameTable<Activation> kActivations = {
    {"linear", Activation::linear},   {"relu", Activation::relu}, {"sigmoid", Activation::sigmoid},
    {"tanh", Activation::tanh},       {"softmax", Activation::softmax}, {"elu", Activation::elu},
    {"leaky_relu", Activation::leaky_relu},
};

template <class T>
using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using Rows = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstRows = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

}  // namespace

ActivationSpec parse_activation(const std::string& name) {
  ActivationSpec spec;
  spec.kind = kActivations.parse(name, "activation");
  if (spec.kind == Activation::leaky_relu) spec.alpha = 0.2;  // keras.activations.leaky_relu's default
  if (spec.kind == Activation::elu) spec.alpha = 1.0;
  return spec;
}
const char* activation_name(Activation a) { return kActivations.name(a); }
std::vector<std::string> activation_names() { return kActivations.names(); }

bool activation_needs_input(const ActivationSpec&) {
  // Every activation so far has a derivative expressible through its output.
  return false;
}

template <class T>
void activation_forward(const ActivationSpec& spec, const T* z_ptr, T* y_ptr, long rows, long cols) {
  const long n = rows * cols;
  ConstVec<T> z(z_ptr, n);
  Vec<T> y(y_ptr, n);
  const T alpha = T(spec.alpha);
  switch (spec.kind) {
    case Activation::linear:
      if (y_ptr != z_ptr) y = z;
      break;
    case Activation::relu:
      y = z.max(T(0));
      break;
    case Activation::sigmoid:
      y = z.logistic();
      break;
    case Activation::tanh:
      y = z.tanh();
      break;
    case Activation::elu:
      y = (z > T(0)).select(z, alpha * z.min(T(0)).expm1());
      break;
    case Activation::leaky_relu:
      y = (z > T(0)).select(z, z * alpha);
      break;
    case Activation::softmax: {
      // exp(z - max) per row keeps every exponent <= 0: no overflow.
      ConstRows<T> zr(z_ptr, rows, cols);
      Rows<T> yr(y_ptr, rows, cols);
      for (long r = 0; r < rows; ++r) {
        const T max = zr.row(r).maxCoeff();
        yr.row(r) = (zr.row(r) - max).exp();
        yr.row(r) /= yr.row(r).sum();
      }
      break;
    }
  }
}

template <class T>
void activation_backward(const ActivationSpec& spec, const T* /*z*/, const T* y_ptr, T* g_ptr, long rows, long cols) {
  const long n = rows * cols;
  ConstVec<T> y(y_ptr, n);
  Vec<T> g(g_ptr, n);
  const T alpha = T(spec.alpha);
  switch (spec.kind) {
    case Activation::linear:
      break;
    case Activation::relu:
      g = (y > T(0)).select(g, T(0));
      break;
    case Activation::sigmoid:
      g *= y * (T(1) - y);
      break;
    case Activation::tanh:
      g *= T(1) - y.square();
      break;
    case Activation::elu:  // y = alpha (exp(z) - 1) below zero, so dy/dz = y + alpha there
      g = (y > T(0)).select(g, g * (y + alpha));
      break;
    case Activation::leaky_relu:
      g = (y > T(0)).select(g, g * alpha);
      break;
    case Activation::softmax: {
      // dz = y * (dy - <dy, y>) row by row (the softmax Jacobian product).
      ConstRows<T> yr(y_ptr, rows, cols);
      Rows<T> gr(g_ptr, rows, cols);
      for (long r = 0; r < rows; ++r) {
        const T dot = (gr.row(r) * yr.row(r)).sum();
        gr.row(r) = yr.row(r) * (gr.row(r) - dot);
      }
      break;
    }
  }
}

template void activation_forward<float>(const ActivationSpec&, const float*, float*, long, long);
template void activation_forward<double>(const ActivationSpec&, const double*, double*, long, long);
template void activation_backward<float>(const ActivationSpec&, const float*, const float*, float*, long, long);
template void activation_backward<double>(const ActivationSpec&, const double*, const double*, double*, long,
                                          long);

}  // namespace densenn
