// Optimizers with Keras 3's update equations, applied to one flat buffer of
// parameters so a single vectorised pass updates the whole model (and a
// data-parallel allreduce can sum the flat gradient buffer before it).
//
// One step, in Keras' order: clip the gradients (clipnorm per variable,
// global_clipnorm over all of them, or clipvalue) -> decoupled weight decay
// `v -= v * weight_decay * lr` -> the optimizer's update -> the caller adds 1
// to `iterations`. Arithmetic is in T (the model's dtype); step-wide scalars
// (bias corrections, Nadam's momentum schedule) are computed in double.
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

// The Python front always sends every argument of the chosen optimizer, with
// Keras' defaults for that optimizer (the defaults below are only fallbacks),
// and has checked each argument's range where the user gave it (the optimizer
// classes of densenn.optimizers). A value out of range would give wrong
// numbers, never a wrong size, so the core checks only the name.
struct OptimizerConfig {
  // sgd, adam, adamw, rmsprop, adagrad, adadelta, adamax, nadam, lion
  std::string name = "sgd";
  double learning_rate = 0.01;
  double momentum = 0.0;                   // SGD, RMSprop
  bool nesterov = false;                   // SGD
  double beta_1 = 0.9;                     // Adam, AdamW, Adamax, Nadam, Lion
  double beta_2 = 0.999;                   // Adam, AdamW, Adamax, Nadam, Lion (0.99)
  double epsilon = 1e-7;                   // all but SGD and Lion
  bool amsgrad = false;                    // Adam, AdamW
  double rho = 0.9;                        // RMSprop, Adadelta (0.95)
  bool centered = false;                   // RMSprop
  double initial_accumulator_value = 0.1;  // Adagrad
  // Shared by all (Keras' base optimizer); 0 means unset.
  double weight_decay = 0.0;
  double clipnorm = 0.0;
  double clipvalue = 0.0;
  double global_clipnorm = 0.0;
};

std::vector<std::string> optimizer_names();

// How many state values the optimizer keeps per parameter (SGD with
// momentum: 1, Adam: 2, Adam with amsgrad: 3, ...); throws
// std::invalid_argument, listing the valid names, for an unknown name.
int optimizer_state_per_param(const OptimizerConfig& config);

// Whether steps over parts of the variables, one after another, update them as one step over all of them
// does: not when a norm spans variables (clipnorm, global_clipnorm) or the step updates a scalar state (Nadam).
bool optimizer_updates_in_parts(const OptimizerConfig& config);

// Total state size for n parameters: state_per_param * n, plus the
// optimizer's scalar variables (Nadam's u_product) at the end.
std::size_t optimizer_state_size(const OptimizerConfig& config, std::size_t n);

}  // namespace densenn
