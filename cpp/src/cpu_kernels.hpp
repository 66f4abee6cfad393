// The CPU backend's kernels for activations, losses, metrics and optimizers,
// each in its concept's file (activations.cpp, losses.cpp, metrics.cpp,
// optimizers.cpp) beside its names and checks. Only cpu_backend.cpp calls
// them: the rest of the core reaches them through Backend<T> (backend.hpp).
#pragma once

#include <cstddef>
#include <vector>

#include "densenn/activations.hpp"
#include "densenn/losses.hpp"
#include "densenn/metrics.hpp"
#include "densenn/optimizers.hpp"

// The kernels pass Eigen's packets, vector types with alignment attributes, as template arguments, which GCC
// warns it drops there.
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace densenn {

// y = act(z) over a rows x cols row-major block; y may alias z.
template <class T>
void activation_forward(const ActivationSpec& a, const T* z, T* y, long rows, long cols);

// In place: turns dy (gradient w.r.t. y) into dz (gradient w.r.t. z).
// z may be null when !activation_needs_input(a).
template <class T>
void activation_backward(const ActivationSpec& a, const T* z, const T* y, T* grad, long rows, long cols);

// Batch loss value; sample_weight may be null (all ones). As in Keras, hinge and
// squared_hinge map targets to 2t - 1 when every target of the batch is 0 or 1.
template <class T>
double loss_value(const LossSpec& l, const T* pred, const T* target, const T* sample_weight, long rows, long cols);

// values[r] = row r's loss (before any sample weight), with the same batch-wide target mapping.
template <class T>
void loss_per_sample(const LossSpec& l, const T* pred, const T* target, long rows, long cols, double* values);

// grad = d(batch loss)/d(pred), or with fused = true d(batch loss)/d(logits)
// where pred = final_activation(logits).
template <class T>
void loss_gradient(const LossSpec& l, bool fused, const T* pred, const T* target, const T* sample_weight, T* grad,
                   long rows, long cols);

// Adds one batch to the metric's state; sample_weight may be null. pred is
// rows x cols; target is rows x spec.target_cols.
template <class T>
void metric_accumulate(const MetricSpec& spec, const T* pred, const T* target, const T* sample_weight, long rows,
                       long cols, double* state);

// Initial state (size optimizer_state_size): zeros, except Adagrad's
// accumulators (initial_accumulator_value) and Nadam's u_product (1).
template <class T>
void optimizer_initialize_state(const OptimizerConfig& config, T* state, std::size_t n);

// One update of the variables listed (slices of params[0..n), in order) from
// grads; state holds optimizer_state_size values (initialised by
// optimizer_initialize_state); iteration is Keras' `iterations` before the
// step; learning_rate is this step's rate (a schedule's value, else
// config.learning_rate). threads: how many threads share the update (it is
// element-wise: the numbers do not depend on it); 0 lets the buffer's size
// decide (threading.hpp).
template <class T>
void optimizer_step(const OptimizerConfig& config, T* params, const T* grads, T* state, std::size_t n,
                    const std::vector<Slice>& variables, long long iteration, double learning_rate, int threads);

}  // namespace densenn
