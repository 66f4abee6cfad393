// Activation functions applied element-wise (or row-wise for softmax) to a
// batch-major block of values.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace densenn {

enum class Activation { linear, relu, sigmoid, tanh, softmax, elu, leaky_relu };

// An activation and the parameters of its parametrised forms (the Keras
// layers LeakyReLU, ELU and ReLU take them as arguments).
struct ActivationSpec {
  Activation kind = Activation::linear;
  double alpha = 0.0;  // negative slope of relu / leaky_relu; elu's alpha
  double max_value = std::numeric_limits<double>::infinity();  // relu's cap
  double threshold = 0.0;                                      // relu's threshold
};

// Parses a Keras activation name ("relu", "linear", ...) with the Keras
// function's defaults (leaky_relu: slope 0.2, elu: alpha 1); throws
// std::invalid_argument listing the valid names when it is unknown.
ActivationSpec parse_activation(const std::string& name);
const char* activation_name(Activation a);
std::vector<std::string> activation_names();

// Whether the backward pass needs the pre-activation values z; the others
// compute their derivative from the output y alone, so z need not be kept.
bool activation_needs_input(const ActivationSpec& a);

// y = act(z) over a rows x cols row-major block; y may alias z.
template <class T>
void activation_forward(const ActivationSpec& a, const T* z, T* y, long rows, long cols);

// In place: turns dy (gradient w.r.t. y) into dz (gradient w.r.t. z).
// z may be null when !activation_needs_input(a).
template <class T>
void activation_backward(const ActivationSpec& a, const T* z, const T* y, T* grad, long rows, long cols);

}  // namespace densenn
