// Activation functions applied element-wise (or row-wise for softmax) to a
// batch-major block of values.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace densenn {

// Every Keras 3 activation function, plus binary_step (the perceptron's
// threshold unit: 1 where z >= 0, else 0; its derivative is zero everywhere,
// so it passes no gradient to the layers below it and cannot train them).
// Aliases ("swish" for silu, "hard_swish" for hard_silu) parse to the same kind.
enum class Activation {
  linear, relu, relu6, sigmoid, tanh, softmax, log_softmax, elu, selu, softplus, softsign, silu, gelu,
  hard_sigmoid, hard_silu, mish, exponential, leaky_relu, binary_step
};

// An activation and the parameters of its parametrised forms (the Keras
// layers LeakyReLU, ELU and ReLU take them as arguments).
//
// relu and relu6 share one kernel, Keras' ReLU layer:
//   f(z) = max_value                    where z >= max_value
//        = z                            where threshold <= z < max_value
//        = alpha * (z - threshold)      otherwise (alpha = negative_slope)
// plain relu is alpha 0, max_value inf, threshold 0; relu6 is max_value 6.
struct ActivationSpec {
  Activation kind = Activation::linear;
  double alpha = 0.0;  // negative slope of relu / leaky_relu; elu's alpha
  double max_value = std::numeric_limits<double>::infinity();  // relu's cap
  double threshold = 0.0;                                      // relu's threshold
};

// Parses a Keras activation name ("relu", "linear", ...) with the Keras
// function's defaults (leaky_relu: slope 0.2, elu: alpha 1, relu6: max_value
// 6); throws std::invalid_argument listing the valid names when it is unknown.
// activation_names() lists the aliases too; activation_name() gives the
// canonical name of a kind.
ActivationSpec parse_activation(const std::string& name);
const char* activation_name(Activation a);
std::vector<std::string> activation_names();

// Whether the backward pass needs the pre-activation values z; the others
// compute their derivative from the output y alone, so z need not be kept.
bool activation_needs_input(const ActivationSpec& a);

}  // namespace densenn
