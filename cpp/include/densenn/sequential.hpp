// A Sequential model: a stack of layers whose parameters, gradients and
// optimizer state each live in one contiguous buffer, trained a whole pass at
// a time by DataPass without returning to the caller per batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "densenn/backend.hpp"
#include "densenn/buffer.hpp"
#include "densenn/layers.hpp"
#include "densenn/random.hpp"

namespace densenn {

// Buffers for forward/backward passes over batches of up to `rows` rows.
// Each concurrent caller (training, one predict) uses its own.
template <class T>
struct Workspace {
  long rows = 0;
  std::vector<Buffer<T>> outputs;  // per layer, rows x output_dim
  std::vector<Buffer<T>> scratch;  // per layer, rows x scratch_cols
  Buffer<T> input, target, weight;  // a gathered batch
  Buffer<T> grad, grad_next;        // dL/d(activations), ping-pong between layers
};

template <class T>
class Sequential {
 public:
  // seed fixes the initial weights and the shuffling order.
  Sequential(long input_dim, const std::vector<LayerConfig>& layers, std::uint64_t seed);

  long input_dim() const { return input_dim_; }
  long output_dim() const { return layers_.empty() ? input_dim_ : layers_.back()->output_dim(); }
  const std::vector<std::unique_ptr<Layer<T>>>& layers() const { return layers_; }
  // Offset of each layer's weights in the flat parameter buffer.
  const std::vector<std::size_t>& param_offsets() const { return param_offsets_; }

  Buffer<T>& params() { return params_; }
  const Buffer<T>& params() const { return params_; }
  const Buffer<T>& grads() const { return grads_; }

  void compile(const std::string& loss, const OptimizerConfig& optimizer, const std::vector<std::string>& metrics);
  bool compiled() const { return compiled_; }
  Loss loss() const { return loss_; }
  const std::vector<Metric>& metrics() const { return metrics_; }
  // Width of a target row for the compiled loss (1 for sparse labels).
  long target_cols() const { return loss_target_cols(loss_, output_dim()); }
  OptimizerConfig& optimizer() { return optimizer_; }
  Buffer<T>& optimizer_state() { return optimizer_state_; }
  // Counts compile() calls, so a pass can tell that the model changed under it.
  long compile_count() const { return compile_count_; }
  long long iterations() const { return iterations_; }
  void set_iterations(long long n) { iterations_ = n; }
  Rng& shuffle_rng() { return shuffle_rng_; }
  Backend<T>& backend() const { return *backend_; }

  // out (rows x output_dim) = model(x); thread-safe against other predicts.
  void predict(const T* x, long rows, T* out, long batch_size) const;

  // One forward pass (and, when training, backward pass and optimizer step)
  // on a batch; returns the batch loss and adds to the metric sums.
  double run_batch(Workspace<T>& ws, const T* x, const T* y, const T* w, long rows, bool training,
                   double* metric_totals, double* metric_weights);

  // Forward and backward pass on a batch: fills grads() and returns the batch
  // loss (no update). A data-parallel trainer would allreduce grads() here.
  double compute_gradients(Workspace<T>& ws, const T* x, const T* y, const T* w, long rows);

  void reserve(Workspace<T>& ws, long rows) const;
  Workspace<T>& training_workspace() { return train_ws_; }

 private:
  const T* forward(Workspace<T>& ws, const T* x, long rows) const;
  void backward(Workspace<T>& ws, const T* x, const T* pred, const T* y, const T* w, long rows);

  Backend<T>* backend_;
  long input_dim_;
  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<std::size_t> param_offsets_;
  Buffer<T> params_, grads_, optimizer_state_;
  bool compiled_ = false;
  long compile_count_ = 0;
  Loss loss_ = Loss::mse;
  bool fused_ = false;
  std::vector<Metric> metrics_;
  OptimizerConfig optimizer_;
  long long iterations_ = 0;
  Rng shuffle_rng_;
  Workspace<T> train_ws_;
};

// One pass over a data set in batches (an epoch of training, or an
// evaluation), run in slices so the caller can report progress or check for
// interrupts between them. The arrays must outlive the pass.
template <class T>
class DataPass {
 public:
  DataPass(Sequential<T>& model, const T* x, const T* y, const T* sample_weight, long rows, long batch_size,
           bool training, bool shuffle);

  long steps() const { return steps_; }
  long steps_done() const { return step_; }
  bool done() const { return step_ >= steps_; }
  // Runs up to max_steps more batches, stopping early once max_seconds have
  // passed (max_seconds <= 0: no time limit). Returns the steps run.
  long run(long max_steps, double max_seconds);

  double loss() const { return seen_ ? loss_sum_ / double(seen_) : 0.0; }  // batch-size-weighted mean
  std::vector<double> metric_values() const;

 private:
  Sequential<T>& model_;
  const T *x_, *y_, *w_;
  long rows_, batch_size_, steps_, step_ = 0;
  bool training_;
  std::vector<long> order_;  // empty: rows in order, read in place
  long compile_count_;        // the model's, when the pass began
  double loss_sum_ = 0;
  long seen_ = 0;
  std::vector<double> metric_totals_, metric_weights_;
};

}  // namespace densenn
