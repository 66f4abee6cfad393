// Losses with Keras' "sum_over_batch_size" reduction: the per-sample loss is
// the mean over the last axis and the batch loss is sum(w * l) / rows.
#pragma once

#include <string>
#include <vector>

#include "densenn/activations.hpp"

namespace densenn {

enum class Loss { mse, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy };

Loss parse_loss(const std::string& name);
const char* loss_name(Loss l);
std::vector<std::string> loss_names();

// Width of the target rows a loss expects for a model output of `outputs` columns.
long loss_target_cols(Loss l, long outputs);

// Whether the loss and the final activation train through the stable fused
// gradient (p - t) with respect to the activation's input (the logits).
bool loss_fuses_with(Loss l, Activation final_activation);

// Throws std::invalid_argument when a target is unusable by the loss (a
// sparse label that is not an integer in [0, outputs)); checked once per fit.
template <class T>
void loss_check_targets(Loss l, const T* targets, long rows, long outputs);

// Batch loss value; sample_weight may be null (all ones).
template <class T>
double loss_value(Loss l, const T* pred, const T* target, const T* sample_weight, long rows, long cols);

// grad = d(batch loss)/d(pred), or with fused = true d(batch loss)/d(logits)
// where pred = final_activation(logits).
template <class T>
void loss_gradient(Loss l, bool fused, const T* pred, const T* target, const T* sample_weight, T* grad,
                   long rows, long cols);

}  // namespace densenn
