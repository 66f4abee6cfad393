// The kernel boundary. Every numeric loop of a forward pass, a training step
// and an optimizer update runs behind these operations, so another
// implementation (a CUDA backend) can take the CPU's place without changing
// the model, the layers or the training loop. Outside them the core only
// moves pointers, sizes and the random generators' state; building a model
// (each layer's initial weights) and reading or writing its buffers from the
// caller (get/set weights, model files) work on host memory, as do the
// targets' checks and the metrics' final values (metric_result).
//
// The pointers are the model's flat buffers (Buffer<T>), the workspaces'
// buffers and the caller's arrays (a batch's inputs and targets, predict's
// output). Methods may be called from several threads at once: Sequential
// runs blocks of rows of a training batch, and several predict passes, on
// OpenMP's threads (threading.hpp), each block on its own buffers.
#pragma once

#include <cstddef>
#include <vector>

#include "densenn/activations.hpp"
#include "densenn/losses.hpp"
#include "densenn/metrics.hpp"
#include "densenn/optimizers.hpp"
#include "densenn/random.hpp"

namespace densenn {

// A batch normalization layer's weights and settings, bound to the model's buffers.
template <class T>
struct BatchNormWeights {
  long features = 0;
  double momentum = 0.99, epsilon = 1e-3;
  const T* gamma = nullptr;  // null: scale 1 (scale=False)
  const T* beta = nullptr;   // null: offset 0 (center=False)
  T* moving_mean = nullptr;
  T* moving_variance = nullptr;
};

template <class T>
class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // ---- products and activations
  // c = op(a) * op(b) (+ c when accumulate); row-major; op(a) is m x k, op(b) is k x n.
  virtual void matmul(bool trans_a, bool trans_b, long m, long n, long k, const T* a, const T* b, T* c,
                      bool accumulate) = 0;
  // z += bias (per column; bias may be null), then y = act(z); y may alias z.
  virtual void bias_activation_forward(const ActivationSpec& act, const T* bias, T* z, T* y, long rows,
                                       long cols) = 0;
  // In place, dy -> dz; z may be null when !activation_needs_input(act).
  virtual void activation_backward(const ActivationSpec& act, const T* z, const T* y, T* grad, long rows,
                                   long cols) = 0;
  // db = column sums of grad.
  virtual void bias_gradient(const T* grad, T* db, long rows, long cols) = 0;

  // ---- moving and adding values
  // dst row i = src row index[i].
  virtual void gather_rows(const T* src, long cols, const long* index, long count, T* dst) = 0;
  virtual void copy(const T* src, T* dst, std::size_t n) = 0;
  // dst += src, element by element: the gradients of a batch's blocks of rows summed into one buffer.
  virtual void add(const T* src, T* dst, std::size_t n) = 0;
  // Whether none of the n values is a NaN or an infinity.
  virtual bool all_finite(const T* x, std::size_t n) = 0;

  // ---- layers
  // Inverted dropout in training: each of the n values is kept with probability 1 - rate (one draw from
  // rng per value, in order) and scaled by 1 / (1 - rate); mask receives each value's factor.
  virtual void dropout_forward(double rate, Rng& rng, const T* x, T* y, T* mask, long n) = 0;
  // dx = grad * mask.
  virtual void dropout_backward(const T* mask, const T* grad, T* dx, long n) = 0;
  // y = gamma * x_hat + beta with x_hat = (x - mean) * inv_std per feature: in training the batch's mean and
  // biased variance (accumulated in double), which also update the moving statistics; else the moving ones.
  // x_hat (rows x features) and inv_std (features) are kept for the backward pass.
  virtual void batch_norm_forward(const BatchNormWeights<T>& bn, bool training, const T* x, T* x_hat, T* inv_std,
                                  T* y, long rows) = 0;
  // When the forward pass used the batch statistics (batch_statistics): the gradients of gamma and beta (each
  // null when not wanted) and, unless dx is null, of the input through those statistics. Otherwise (a frozen
  // layer, whose gamma and beta get no gradients) only dx, through the fixed moving statistics.
  virtual void batch_norm_backward(const BatchNormWeights<T>& bn, bool batch_statistics, const T* x_hat,
                                   const T* inv_std, const T* grad, T* dx, T* dgamma, T* dbeta, long rows) = 0;
  // y (rows x units) = the maximum of each unit's `pieces` consecutive columns of z.
  virtual void maxout_forward(const T* z, T* y, long rows, long units, long pieces) = 0;
  // dz = grad at each unit's winning piece (the first, on ties), 0 elsewhere.
  virtual void maxout_backward(const T* z, const T* grad, T* dz, long rows, long units, long pieces) = 0;
  // Keras' L1L2 regularizer over n values: l1 * sum|v| + l2 * sum v^2, and grad += scale * its gradient.
  virtual double penalty(double l1, double l2, const T* v, long n) = 0;
  virtual void add_penalty_gradient(double l1, double l2, const T* v, T* grad, long n, double scale) = 0;

  // ---- loss and metrics (losses.hpp, metrics.hpp)
  // sum(w * per-sample loss) / rows; sample_weight may be null (all ones).
  virtual double loss_value(const LossSpec& loss, const T* pred, const T* target, const T* sample_weight, long rows,
                            long cols) = 0;
  // Each row's loss, before sample weights (what loss_value weighs and averages).
  virtual void loss_per_sample(const LossSpec& loss, const T* pred, const T* target, long rows, long cols,
                               double* values) = 0;
  // grad = d(batch loss)/d(pred), or with fused d(batch loss)/d(logits) (loss_fuses_with).
  virtual void loss_gradient(const LossSpec& loss, bool fused, const T* pred, const T* target,
                             const T* sample_weight, T* grad, long rows, long cols) = 0;
  // Adds a batch to the metric's sums (metric_state_size values, on the host).
  virtual void metric_accumulate(const MetricSpec& metric, const T* pred, const T* target, const T* sample_weight,
                                 long rows, long cols, double* state) = 0;

  // ---- optimizer (optimizers.hpp)
  // The state's initial values (optimizer_state_size(config, n) of them).
  virtual void optimizer_initialize_state(const OptimizerConfig& config, T* state, std::size_t n) = 0;
  // One update of the given variables of params[0..n) from grads, in Keras' order (clipping, weight decay, the
  // update); the others (frozen layers') and their state are left alone; iteration is the number of steps
  // before this one. threads: how many
  // threads share the update, which is element-wise, so the numbers do not depend on it (0: by size).
  virtual void optimizer_step(const OptimizerConfig& config, T* params, const T* grads, T* state, std::size_t n,
                              const std::vector<Slice>& variables, long long iteration, double learning_rate,
                              int threads) = 0;
};

// The Eigen (+ OpenMP for large products) implementation.
template <class T>
Backend<T>& cpu_backend();

}  // namespace densenn
