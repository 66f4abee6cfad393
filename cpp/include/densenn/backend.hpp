// The kernel boundary. The model touches its numbers only through these
// operations, on buffers it sized once, so another implementation (a CUDA
// backend on device pointers) can take the CPU's place without changing the
// model, the layers or the training loop.
#pragma once

#include <cstddef>

#include "densenn/activations.hpp"
#include "densenn/losses.hpp"
#include "densenn/metrics.hpp"
#include "densenn/optimizers.hpp"

namespace densenn {

template <class T>
class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // c = op(a) * op(b) (+ c when accumulate); row-major; op(a) is m x k, op(b) is k x n.
  virtual void matmul(bool trans_a, bool trans_b, long m, long n, long k, const T* a, const T* b, T* c,
                      bool accumulate) = 0;
  // z += bias (per column; bias may be null), then y = act(z); y may alias z.
  virtual void bias_activation_forward(const ActivationSpec& act, const T* bias, T* z, T* y, long rows,
                                       long cols) = 0;
  // In place, dy -> dz.
  virtual void activation_backward(const ActivationSpec& act, const T* z, const T* y, T* grad, long rows,
                                   long cols) = 0;
  // db = column sums of grad.
  virtual void bias_gradient(const T* grad, T* db, long rows, long cols) = 0;
  // dst row i = src row index[i].
  virtual void gather_rows(const T* src, long cols, const long* index, long count, T* dst) = 0;

  virtual double loss_value(const LossSpec& loss, const T* pred, const T* target, const T* sample_weight, long rows,
                            long cols) = 0;
  virtual void loss_gradient(const LossSpec& loss, bool fused, const T* pred, const T* target,
                             const T* sample_weight, T* grad, long rows, long cols) = 0;
  virtual void metric_accumulate(const MetricSpec& metric, const T* pred, const T* target, const T* sample_weight,
                                 long rows, long cols, double* state) = 0;
  // threads: as densenn::optimizer_step's (0: by size).
  virtual void optimizer_step(const OptimizerConfig& config, T* params, const T* grads, T* state, std::size_t n,
                              const std::vector<Slice>& variables, long long iteration, double learning_rate,
                              int threads) = 0;
};

// The Eigen (+ OpenMP for large products) implementation.
template <class T>
Backend<T>& cpu_backend();

}  // namespace densenn
