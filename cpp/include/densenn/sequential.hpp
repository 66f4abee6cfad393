// A Sequential model: a stack of layers whose parameters, gradients and
// optimizer state each live in one contiguous buffer, trained a whole pass at
// a time by DataPass without returning to the caller per batch.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "densenn/backend.hpp"
#include "densenn/buffer.hpp"
#include "densenn/communicator.hpp"
#include "densenn/fair_shared_mutex.hpp"
#include "densenn/layers.hpp"
#include "densenn/pool.hpp"
#include "densenn/random.hpp"

namespace densenn {

// Buffers for forward/backward passes over batches of up to `rows` rows.
// Each concurrent caller (training, one predict) uses its own.
template <class T>
struct Workspace {
  long rows = 0;
  std::vector<Buffer<T>> outputs;  // per layer, rows x output_dim
  std::vector<Buffer<T>> scratch;  // per layer, its scratch_size(rows)
  Buffer<T> input, target, weight;  // a gathered batch
  Buffer<T> grad, grad_next;        // dL/d(activations), ping-pong between layers
};

// Threads: predict() may run from any number of threads at once, also while
// another thread trains: it holds the model's lock shared, and a DataPass holds
// it exclusively for each batch, so a predict sees the weights between two
// training steps, never a half-updated set. Everything else that reads or
// writes the model's buffers or settings (compile, params()/state()/
// optimizer_state(), run_batch, compute_gradients, the RNG and iteration
// setters) is the caller's to lock: lock_exclusive() to write, lock_shared()
// to read. The lock is not recursive. The training workspace belongs to
// whoever holds the lock exclusively.
template <class T>
class Sequential {
 public:
  // seed fixes the initial weights, the shuffling order and dropout's masks.
  Sequential(long input_dim, const std::vector<LayerConfig>& layers, std::uint64_t seed);

  long input_dim() const { return input_dim_; }
  long output_dim() const { return layers_.empty() ? input_dim_ : layers_.back()->output_dim(); }
  const std::vector<std::unique_ptr<Layer<T>>>& layers() const { return layers_; }
  // The configurations the layers were built from (what a model file stores).
  const std::vector<LayerConfig>& layer_configs() const { return configs_; }
  // Each weight tensor (kernel, bias, ...) in the flat parameter buffer, in layer order.
  const std::vector<Slice>& variables() const { return variables_; }

  Buffer<T>& params() { return params_; }
  const Buffer<T>& params() const { return params_; }
  const Buffer<T>& grads() const { return grads_; }
  // Non-trainable weights (e.g. moving statistics), in layer order.
  Buffer<T>& state() { return state_; }

  // trainable: one flag per layer (empty: all trainable). Frozen layers' weights are left out of the update
  // (and of clipping norms), as Keras 3 leaves non-trainable variables out of its optimizer (Layer::trainable).
  void compile(const LossSpec& loss, const OptimizerConfig& optimizer, const std::vector<MetricSpec>& metrics,
               const std::vector<bool>& trainable = {});
  bool compiled() const { return compiled_; }
  const LossSpec& loss() const { return loss_; }
  const std::vector<MetricSpec>& metrics() const { return metrics_; }
  // Width of a target row for the compiled loss (1 for sparse labels).
  long target_cols() const { return loss_target_cols(loss_, output_dim()); }
  OptimizerConfig& optimizer() { return optimizer_; }
  Buffer<T>& optimizer_state() { return optimizer_state_; }
  // Counts compile() calls, so a pass can tell that the model changed under it.
  long compile_count() const { return compile_count_; }
  long long iterations() const { return iterations_; }
  void set_iterations(long long n) { iterations_ = n; }
  Rng& shuffle_rng() { return shuffle_rng_; }
  // Every generator's state (shuffling, training noise, then each layer's own), 4 words each, so a
  // model file can resume training exactly; set_rng_state throws std::invalid_argument on a wrong size.
  std::vector<std::uint64_t> rng_state() const;
  void set_rng_state(const std::vector<std::uint64_t>& words);
  Backend<T>& backend() const { return *backend_; }

  std::unique_lock<FairSharedMutex> lock_exclusive() const { return std::unique_lock<FairSharedMutex>(mutex_); }
  std::shared_lock<FairSharedMutex> lock_shared() const { return std::shared_lock<FairSharedMutex>(mutex_); }

  // out (rows x output_dim) = model(x), in passes of ~256K activation values (at least 256 rows), several
  // passes in parallel when large; takes the lock shared (see above). Interruptible (interrupt.hpp).
  // Reuses pooled workspaces: once warm, allocates nothing.
  void predict(const T* x, long rows, T* out) const;
  // The same, checking on the way that x is all finite (nearly free: Dense tells it from its products): false,
  // with out incomplete, when it holds a NaN or an infinity.
  bool predict_checked(const T* x, long rows, T* out) const;
  // The same for at most kOnePassRows rows (one pass, on the calling thread) without waiting for the lock: false,
  // and nothing done, when a training step holds or awaits it. For a caller that must not wait there (one that
  // holds Python's GIL, which the training thread may need).
  static constexpr long kOnePassRows = 256;
  bool try_predict(const T* x, long rows, T* out) const;
  // The same with the caller's workspace, in batches of ws.rows rows (reserved for min(rows, 64) when
  // empty): allocates nothing once ws is reserved, so one workspace per thread makes predicts allocation-free.
  void predict(Workspace<T>& ws, const T* x, long rows, T* out) const;

  // One forward pass (and, when training, backward pass and optimizer step
  // at this learning rate) on a batch; returns the batch loss and adds the
  // batch to the metrics' states (laid end to end). The batch's inputs are
  // rows index[0..rows) of x (a shuffled order: gathered here, by the threads
  // that use them), or x's first `rows` rows when index is null; y and w are
  // the batch's own rows. A training batch that throws (Interrupted included)
  // leaves the model as it was before it: weights, moving statistics,
  // optimizer state, iterations and generators.
  double run_batch(Workspace<T>& ws, const T* x, const long* index, const T* y, const T* w, long rows, bool training,
                   double* metric_states, double learning_rate);

  // Forward and backward pass on a batch: fills grads() and returns the batch
  // loss (no update).
  double compute_gradients(Workspace<T>& ws, const T* x, const T* y, const T* w, long rows);

  void reserve(Workspace<T>& ws, long rows) const;
  Workspace<T>& training_workspace() { return train_ws_; }

  // Data parallelism (docs/distributed.md). With a communicator of P > 1 ranks, a training batch is the global
  // batch: this rank computes the forward and backward pass of block rank() of its P blocks of rows (as
  // sharded_pass splits a batch), the blocks' predictions are gathered so that every rank computes the loss,
  // metrics and loss gradient of the whole batch, and the blocks' gradients are summed in rank order on every
  // rank before the update. So P ranks train bit for bit as one process whose batches split into the same P
  // blocks (set_training_blocks). Evaluation passes do not exchange. Null: no communicator. Throws
  // std::invalid_argument for layers whose training depends on the whole batch (batch normalization's
  // statistics, regularization penalties).
  void set_communicator(std::shared_ptr<Communicator> communicator);
  const std::shared_ptr<Communicator>& communicator() const { return communicator_; }
  // Splits every training batch into this many blocks of rows (0: as the threading policy decides), whatever
  // the threads: one process's equivalent of a group of that many ranks. Throws std::invalid_argument for a
  // model that does not split by rows.
  void set_training_blocks(int blocks);

 private:
  const T* forward(Workspace<T>& ws, const T* x, long rows, const PassContext& ctx) const;
  // Layers [first, end) forward from `in` (the output of layer first - 1, or x); the output's address.
  const T* forward_from(Workspace<T>& ws, std::size_t first, const T* in, long rows, const PassContext& ctx) const;
  bool predict_passes(const T* x, long rows, T* out, bool check_input) const;
  // With the lock held: passes of pass_rows rows on the calling thread, in a pooled workspace.
  bool predict_here(const T* x, long rows, T* out, long pass_rows, bool check_input) const;
  // False (at once) when check_input finds a NaN or an infinity in x.
  bool predict_batches(Workspace<T>& ws, const T* x, long rows, T* out, long batch, bool check_input) const;
  // Rows [first, first + n) of a batch (see run_batch): in place, or gathered into ws.input.
  const T* batch_rows(Workspace<T>& ws, const T* x, const long* index, long first, long n) const;
  // Sizes only what forward passes use (layer outputs and scratch): predict's pooled workspaces.
  void reserve_forward(Workspace<T>& ws, long rows) const;
  // From dL/d(prediction) in ws.grad back through the layers; the parameters' gradients go to param_grads.
  // Layers below `stop` (at least lowest_trainable_) are left to the caller, with dL/d(their output) in ws.grad.
  void backward(Workspace<T>& ws, const T* x, long rows, T* param_grads, std::size_t stop = 0);
  // Blocks of rows a training batch of `rows` rows splits into, one per thread (1: not split).
  int training_shards(long rows) const;
  // The forward and backward pass of a training batch split into `shards` blocks of rows run by a team of
  // threads, each block gathering its own rows into its own workspace and writing its own gradient buffer;
  // the loss, metrics and loss gradient are computed once on the whole batch (in ws) between the two halves;
  // the blocks' gradients are then summed into grads() in block order, each thread a run of the parameters.
  // Returns the batch loss.
  double sharded_pass(Workspace<T>& ws, const T* x, const long* index, const T* y, const T* w, long rows,
                      int shards, double* metric_states);
  // Parts of the first layer's inputs a training batch of `rows` rows splits into, one per thread (1: not
  // split; see input_split_pass).
  int input_split_parts(long rows) const;
  // A training step (passes and update) with the first layer, a Dense layer, split between `parts` threads by
  // its inputs: each thread copies its columns of the batch, multiplies them by its rows of the kernel, and
  // after the rest of the step (on the first thread) computes and updates those kernel rows. Each thread so
  // keeps its part of the kernel, its gradient and its optimizer state in its own cache, where a batch split by
  // rows has every thread read all of them and the update's stores wait for the other cores' copies. Returns
  // the batch loss.
  double input_split_pass(Workspace<T>& ws, const T* x, const long* index, const T* y, const T* w, long rows,
                          int parts, double* metric_states, double learning_rate);
  // A training batch's forward and backward pass on this rank's block of rows (see set_communicator), then the
  // exchange; leaves the whole batch's gradients in grads(). Returns the batch loss.
  double data_parallel_pass(Workspace<T>& ws, const T* x, const long* index, const T* y, const T* w, long rows,
                            double* metric_states);
  // grads() summed over the ranks: each rank sums one run of the parameters over the ranks in rank order (an
  // all-to-all of the runs), then every rank gathers every run. The same bits on every rank, and the same as
  // sharded_pass's block-order sum.
  void sum_gradients_over_ranks();
  // The layers' regularization penalties for the batch in ws (added to the loss, as Keras does).
  double penalty(const Workspace<T>& ws, long rows) const;
  // Adds a batch's predictions to the compiled metrics' states (laid end to end).
  void accumulate_metrics(const T* pred, const T* y, const T* w, long rows, double* metric_states) const;

  Backend<T>* backend_;
  long input_dim_;
  std::vector<LayerConfig> configs_;
  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<Slice> variables_;
  Buffer<T> params_, grads_, state_, optimizer_state_;
  bool compiled_ = false;
  long compile_count_ = 0;
  LossSpec loss_;
  bool fused_ = false;
  std::vector<MetricSpec> metrics_;
  OptimizerConfig optimizer_;
  long long iterations_ = 0;
  Rng shuffle_rng_, noise_rng_;
  Workspace<T> train_ws_;
  // Training batches split by rows (see training_shards): every layer allows it, and the largest layer's
  // parameter count, which decides whether its products are threaded instead.
  bool splits_by_rows_ = true;
  long largest_layer_params_ = 0;
  std::vector<std::size_t> param_offsets_;  // each layer's parameters in the flat buffers
  std::vector<Slice> trainable_variables_;  // the variables of trainable layers: what the optimizer updates
  std::size_t lowest_trainable_ = 0;        // backward stops at this layer (layers_.size(): none trainable)
  std::vector<Workspace<T>> shard_ws_;      // one per block of rows
  Buffer<T> shard_grads_;                   // blocks 1, 2, ...'s gradients, each laid out as grads() from a cache line (block 0 uses grads())
  std::vector<Buffer<T>> part_inputs_, part_products_;   // input_split_pass's columns and products, per part
  std::vector<std::vector<Slice>> part_variables_;       // its updates: each part's kernel rows, then the rest
  Buffer<T> state_backup_;  // run_batch's copy of state_, to undo a step that throws
  std::shared_ptr<Communicator> communicator_;  // data parallelism (null: none)
  int training_blocks_ = 0;                     // set_training_blocks
  Buffer<T> batch_pred_;                        // the whole batch's predictions, gathered from the ranks
  Buffer<T> rank_grads_;                        // the ranks' gradients for this rank's run of the parameters
  mutable FairSharedMutex mutex_;
  Pool<Workspace<T>> predict_pool_;  // idle workspaces of finished predicts
};

// One pass over a data set in batches (an epoch of training, or an
// evaluation), run in slices so the caller can report progress between them.
// Each batch holds the model's lock exclusively; an interrupt (interrupt.hpp)
// abandons the batch it stops, leaving the pass and the model as they were
// after the previous one. The arrays must outlive the pass.
template <class T>
class DataPass {
 public:
  // learning_rates: one rate per step (a schedule's values), or empty for the optimizer's own rate.
  // x is rows x input_dim, y rows x y_cols (which must be the compiled loss's target width), sample_weight
  // rows or null. The constructor takes the model's lock (it draws the shuffling order).
  DataPass(Sequential<T>& model, const T* x, const T* y, long y_cols, const T* sample_weight, long rows,
           long batch_size, bool training, bool shuffle, std::vector<double> learning_rates = {});

  long steps() const { return steps_; }
  long steps_done() const { return step_; }
  bool done() const { return step_ >= steps_; }
  // Runs up to max_steps more batches, stopping early once max_seconds have
  // passed (max_seconds <= 0: no time limit). Returns the steps run; throws
  // Interrupted when the calling thread's check says stop.
  long run(long max_steps, double max_seconds);

  // Goes on from the sums of `previous`, a pass of the same model and compile over the batches before this
  // one's (data streamed batch by batch): loss() and metric_values() then cover all of them, as one pass over
  // their rows would. Before the first step only; throws std::invalid_argument otherwise.
  void continue_from(const DataPass& previous);

  double loss() const { return seen_ ? loss_sum_ / double(seen_) : 0.0; }  // batch-size-weighted mean
  std::vector<double> metric_values() const;

 private:
  std::string exchange_failure(const ExchangeError& e) const;  // e's message, naming the step

  Sequential<T>& model_;
  const T *x_, *y_, *w_;
  long y_cols_, rows_, batch_size_, steps_, step_ = 0;
  bool training_;
  std::vector<long> order_;  // empty: rows in order, read in place
  long compile_count_;        // the model's, when the pass began
  std::vector<double> learning_rates_;
  std::vector<MetricSpec> metrics_;  // as compiled when the pass began
  double loss_sum_ = 0;
  long seen_ = 0;
  std::vector<double> metric_states_;  // each metric's sums, end to end
  std::vector<double> metric_backup_;  // their values before the running batch
};

}  // namespace densenn
