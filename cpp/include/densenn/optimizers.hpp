// Optimizers with Keras 3's update equations, applied to one flat buffer of
// parameters so a single vectorised pass updates the whole model (and a
// data-parallel allreduce can sum the flat gradient buffer before it).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace densenn {

// One variable (a kernel, a bias) inside the flat parameter buffer: Keras
// clips gradients by norm per variable (clipnorm).
struct Slice {
  std::size_t offset = 0, size = 0;
};

struct OptimizerConfig {
  std::string name = "sgd";  // "sgd" or "adam"
  double learning_rate = 0.01;
  double momentum = 0.0;     // SGD
  bool nesterov = false;     // SGD
  double beta_1 = 0.9;       // Adam
  double beta_2 = 0.999;     // Adam
  double epsilon = 1e-7;     // Adam
};

std::vector<std::string> optimizer_names();

// Validates the configuration (throws std::invalid_argument) and returns how
// many state values it keeps per parameter (SGD with momentum: 1, Adam: 2).
int optimizer_state_per_param(const OptimizerConfig& config);

// One update of params[0..n) from grads; state holds state_per_param * n
// values (zero at the start); variables partition [0, n); iteration is
// Keras' `iterations` before the step; learning_rate is this step's rate
// (a schedule's value, else config.learning_rate).
template <class T>
void optimizer_step(const OptimizerConfig& config, T* params, const T* grads, T* state, std::size_t n,
                    const std::vector<Slice>& variables, long long iteration, double learning_rate);

}  // namespace densenn
