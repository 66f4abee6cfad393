// Losses with Keras' "sum_over_batch_size" reduction: the per-sample loss is
// the mean over the last axis and the batch loss is sum(w * l) / rows.
#pragma once

#include <string>
#include <vector>

#include "densenn/activations.hpp"

namespace densenn {

// Every Keras 3 loss for dense outputs (keras.losses).
enum class Loss {
  mse,
  mae,
  mape,
  msle,
  binary_crossentropy,
  categorical_crossentropy,
  sparse_categorical_crossentropy,
  hinge,
  squared_hinge,
  categorical_hinge,
  kl_divergence,
  poisson,
  huber,
  log_cosh,
  cosine_similarity,
};

// A loss and its Keras arguments.
struct LossSpec {
  Loss kind = Loss::mse;
  bool from_logits = false;      // cross-entropies: the model outputs logits; the loss applies
                                 // sigmoid / softmax itself (stable log-sigmoid / log-sum-exp)
  double label_smoothing = 0.0;  // binary (t(1-s) + s/2) / categorical (t(1-s) + s/K) cross-entropy
  double delta = 1.0;            // huber
};

LossSpec parse_loss(const std::string& name);
const char* loss_name(Loss l);
std::vector<std::string> loss_names();
// Throws std::invalid_argument when an argument is out of range or given to a
// loss that does not take it.
void validate(const LossSpec& spec);

// Width of the target rows a loss expects for a model output of `outputs` columns.
long loss_target_cols(const LossSpec& l, long outputs);

// Whether the loss and the final activation train through the stable fused
// gradient (p - t) with respect to the activation's input (the logits):
// sigmoid + binary cross-entropy, softmax + (sparse) categorical cross-entropy,
// in both cases only without from_logits (with it, the loss itself applies the
// sigmoid / softmax to the model output).
bool loss_fuses_with(const LossSpec& l, const ActivationSpec& final_activation);

// Throws std::invalid_argument when a target is unusable by the loss (a
// sparse label that is not an integer in [0, outputs)); checked once per pass.
template <class T>
void loss_check_targets(const LossSpec& l, const T* targets, long rows, long outputs);

}  // namespace densenn
