#include "densenn/sequential.hpp"

#include "densenn/interrupt.hpp"
#include "denormals.hpp"
#include "threading.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <numeric>
#include <optional>
#include <utility>
#include <stdexcept>

namespace densenn {
namespace {

// Independent random streams from one user seed: initialisation, shuffling
// and training noise never shift each other.
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t stream) {
  return seed * 0x9e3779b97f4a7c15ULL + stream * 0xd1b54a32d192ed03ULL;
}

// The values a forward pass of `rows` rows keeps: each layer's output and scratch (reserve_forward's buffers).
template <class T>
double forward_values(const std::vector<std::unique_ptr<Layer<T>>>& layers, long rows) {
  double values = 0;
  for (const auto& layer : layers) values += double(rows) * double(layer->output_dim()) + double(layer->scratch_size(rows));
  return values;
}

// The first exception thrown in an OpenMP team's work, rethrown after the parallel region: an exception must not
// leave the region nor skip a barrier. Once one is thrown, the work still to start is skipped.
class TeamErrors {
 public:
  template <class Work>
  void run(Work&& work) {
    if (failed()) return;
    try {
      work();
    } catch (...) {  // e.g. Interrupted, which only the calling thread (the team's first) throws
#pragma omp critical(densenn_team_error)
      if (!error_) error_ = std::current_exception();
      failed_ = true;
    }
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

// Block s of a batch of `rows` rows cut into blocks of `block` rows: its first row and row count (empty past the
// batch's end). One rule for a split batch's threads (sharded_pass) and for data parallelism's ranks.
std::pair<long, long> block_rows(long rows, long block, long s) {
  const long first = std::min(rows, s * block);
  return {first, std::min(block, rows - first)};
}

// Run r of n values shared by `parts` members, in whole cache lines, the last one taking the rest: [lo, hi).
std::pair<std::size_t, std::size_t> value_run(std::size_t n, int parts, int r) {
  const std::size_t run = (n / std::size_t(parts) + 16) / 16 * 16;
  const std::size_t lo = std::min(n, std::size_t(r) * run);
  return {lo, r + 1 == parts ? n : std::min(n, lo + run)};
}

}  // namespace

template <class T>
Sequential<T>::Sequential(long input_dim, const std::vector<LayerConfig>& configs, std::uint64_t seed)
    : backend_(&cpu_backend<T>()), input_dim_(input_dim), configs_(configs), shuffle_rng_(stream_seed(seed, 2)),
      noise_rng_(stream_seed(seed, 3)) {
  if (input_dim <= 0 || input_dim > kMaxWidth)
    throw std::invalid_argument("input width (features per sample) must be in [1, " + std::to_string(kMaxWidth) +
                                "], got " + std::to_string(input_dim) + ".");
  long width = input_dim;
  std::vector<std::size_t> state_offsets;
  std::size_t params = 0, state = 0;
  double weights = 0;  // every size is checked before it is multiplied in 64 bits or allocated
  for (std::size_t i = 0; i < configs.size(); ++i) {
    try {
      layers_.push_back(make_layer<T>(configs[i], width));
      const Layer<T>& layer = *layers_.back();
      if (layer.output_dim() > kMaxWidth)
        throw std::invalid_argument(std::to_string(layer.output_dim()) + " outputs is more than densenn's limit of " +
                                    std::to_string(kMaxWidth) + " (2**31 - 1).");
      for (const auto& shapes : {layer.weight_shapes(), layer.state_shapes()})
        for (const Shape& shape : shapes) {
          double n = 1;
          for (long d : shape) n *= double(d);
          weights += n;
        }
      if (weights > kMaxWeights)
        throw std::invalid_argument(std::to_string(width) + " inputs and " + std::to_string(layer.output_dim()) +
                                    " outputs make the model larger than densenn's limit of 2**40 weights.");
    } catch (const std::invalid_argument& e) {
      throw LayerError(i, configs[i].type, e.what());
    }
    const Layer<T>& layer = *layers_.back();
    width = layer.output_dim();
    splits_by_rows_ = splits_by_rows_ && layer.splits_by_rows();
    largest_layer_params_ = std::max(largest_layer_params_, layer.param_count());
    param_offsets_.push_back(params);
    state_offsets.push_back(state);
    for (const Shape& shape : layer.weight_shapes()) {
      variables_.push_back(Slice{params, std::size_t(shape_size(shape))});
      params += std::size_t(shape_size(shape));
    }
    state += std::size_t(layer.state_count());
  }
  // Its weights, their gradients and its statistics: the least the model allocates.
  const std::string what = "A model of " + std::to_string(params + state) + " weights";
  const double bytes = double(2 * params + state) * double(sizeof(T));
  check_allocation(bytes, what);
  try {  // zeros in blocks, with interruption points: gigabytes take seconds to fault in
    const std::pair<Buffer<T>*, std::size_t> sizes[] = {{&params_, params}, {&grads_, params}, {&state_, state}};
    for (auto [buffer, size] : sizes) {
      buffer->reserve(size);
      while (buffer->size() < size) {
        interruption_point();
        buffer->resize(std::min(size, buffer->size() + (std::size_t(1) << 24)));
      }
    }
  } catch (const std::bad_alloc&) {  // (memory that was available a moment ago, or overcommit refused)
    throw OutOfMemory(what + " needs " + std::to_string(std::uint64_t(bytes)) + " bytes; allocating them failed.");
  }
  Rng init_rng(stream_seed(seed, 1));
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->bind(params_.data() + param_offsets_[i], state_.data() + state_offsets[i]);
    try {
      layers_[i]->initialize(init_rng);
    } catch (const std::invalid_argument& e) {
      throw LayerError(i, configs[i].type, e.what());
    }
  }
}

template <class T>
void Sequential<T>::compile(const LossSpec& loss, const OptimizerConfig& optimizer,
                            const std::vector<MetricSpec>& metrics, const std::vector<bool>& trainable) {
  validate(loss);
  if (!trainable.empty() && trainable.size() != layers_.size())
    throw std::invalid_argument("trainable: expected one flag per layer (" + std::to_string(layers_.size()) +
                                "), got " + std::to_string(trainable.size()) + ".");
  std::vector<MetricSpec> bound = metrics;  // validated and fitted to this model's output and target widths
  for (MetricSpec& m : bound) bind_metric(m, output_dim(), loss_target_cols(loss, output_dim()));
  const std::size_t state_size = optimizer_state_size(optimizer, params_.size());
  // Everything checked: only now change the model, so a bad call leaves it as it was.
  loss_ = loss;
  metrics_ = std::move(bound);
  optimizer_ = optimizer;
  optimizer_state_.assign(state_size, T(0));
  backend_->optimizer_initialize_state(optimizer_, optimizer_state_.data(), params_.size());
  iterations_ = 0;
  trainable_variables_.clear();
  lowest_trainable_ = layers_.size();
  std::size_t variable = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const bool on = trainable.empty() || trainable[i];
    layers_[i]->set_trainable(on);
    for (std::size_t k = 0; k < layers_[i]->weight_shapes().size(); ++k, ++variable) {
      const Slice& slice = variables_[variable];
      if (on)
        trainable_variables_.push_back(slice);
      else  // never written while frozen: compute_gradients reports zeros for it
        std::fill(grads_.data() + slice.offset, grads_.data() + slice.offset + slice.size, T(0));
    }
    if (on && lowest_trainable_ == layers_.size()) lowest_trainable_ = i;
  }
  shard_grads_.clear();  // regrown zeroed: the frozen layers' parts of the blocks' gradients stay zero
  // An output penalty needs the gradient w.r.t. the activation's output, which fusing skips.
  fused_ = !layers_.empty() && loss_fuses_with(loss_, layers_.back()->output_activation()) &&
           !layers_.back()->penalizes_output();
  compiled_ = true;
  ++compile_count_;
}

template <class T>
void Sequential<T>::reserve(Workspace<T>& ws, long rows) const {
  if (rows <= ws.rows) return;
  long widest = input_dim_;
  for (const auto& layer : layers_) widest = std::max(widest, layer->output_dim());
  check_allocation(double(sizeof(T)) * (double(rows) * double(input_dim_ + std::max(output_dim(), 1L) + 1 +
                                                              2 * widest) + forward_values(layers_, rows)),
                   "A training batch of " + std::to_string(rows) + " rows (its activations and gradients)");
  ws.input.resize(std::size_t(rows * input_dim_));
  ws.target.resize(std::size_t(rows * std::max(output_dim(), 1L)));
  ws.weight.resize(std::size_t(rows));
  ws.grad.resize(std::size_t(rows * widest));
  ws.grad_next.resize(std::size_t(rows * widest));
  reserve_forward(ws, rows);  // last: it marks the workspace as sized for `rows`
}

template <class T>
void Sequential<T>::reserve_forward(Workspace<T>& ws, long rows) const {
  if (rows <= ws.rows) return;
  check_allocation(double(sizeof(T)) * forward_values(layers_, rows),
                   "A forward pass of " + std::to_string(rows) + " rows (its activations)");
  ws.outputs.resize(layers_.size());
  ws.scratch.resize(layers_.size());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    ws.outputs[i].resize(std::size_t(rows * layers_[i]->output_dim()));
    ws.scratch[i].resize(std::size_t(layers_[i]->scratch_size(rows)));
  }
  ws.rows = rows;  // only once every buffer is that large (a failed resize leaves the old size in force)
}

template <class T>
const T* Sequential<T>::forward(Workspace<T>& ws, const T* x, long rows, const PassContext& ctx) const {
  // ctx.input_finite: told by the first layer when it can, else read here; the other layers never see it.
  if (ctx.input_finite && (layers_.empty() || !layers_.front()->tells_input_finite()))
    *ctx.input_finite = backend_->all_finite(x, std::size_t(rows * input_dim_));
  return forward_from(ws, 0, x, rows, ctx);
}

template <class T>
const T* Sequential<T>::forward_from(Workspace<T>& ws, std::size_t first, const T* in, long rows,
                                     const PassContext& ctx) const {
  PassContext later = ctx;
  later.input_finite = nullptr;
  for (std::size_t i = first; i < layers_.size(); ++i) {
    if (ctx.input_finite && !*ctx.input_finite) break;
    interruption_point();
    layers_[i]->forward(*backend_, in, ws.outputs[i].data(), ws.scratch[i].data(), rows, i == 0 ? ctx : later);
    in = ws.outputs[i].data();
  }
  return in;
}

template <class T>
void Sequential<T>::predict(const T* x, long rows, T* out) const {
  predict_passes(x, rows, out, false);
}

template <class T>
bool Sequential<T>::predict_checked(const T* x, long rows, T* out) const {
  return predict_passes(x, rows, out, true);
}

template <class T>
bool Sequential<T>::predict_passes(const T* x, long rows, T* out, bool check_input) const {
  if (rows <= 0) return true;
  // Rows per forward pass: ~256K activation values (1 MB in float32, cache-sized), at least 256 rows, so a
  // layer's weights are packed once for many rows, and a large predict has passes enough to share between
  // threads. Keras' batch_size (memory per step) plays no part: passes of 10k rows predicted 10k MNIST rows
  // 1.4x slower (activations out of cache, threads only inside each product).
  long widths = 0;
  for (const auto& layer : layers_) widths += layer->output_dim();
  const long pooled_rows = std::max(kOnePassRows, (1L << 18) / std::max(widths, 1L));
  const long passes = (rows + pooled_rows - 1) / pooled_rows;
  // Passes of equal size, so that threads sharing them finish together (10k rows of 784-64-64-10 made five
  // full passes and one of 500 rows, which left one of two threads a pass behind).
  const long pass_rows = (rows + passes - 1) / passes;
  // Several passes run in parallel, each on its own workspace, when there is work enough for threads. The
  // passes do not depend on the thread count: a row's numbers depend on where it falls in its pass (Eigen
  // treats the columns left over from its 4-wide blocks apart), and predictions must not change with threads.
  const double work = double(rows) * double(std::max<std::size_t>(params_.size(), 1));
  const int threads = passes > 1 ? int(std::min<long>(threads_for(work), passes)) : 1;
  const auto lock = lock_shared();
  if (threads == 1)  // no OpenMP region: entering one, even for a team of one, cost ~0.8 us of a 2.4 us row
    return predict_here(x, rows, out, pass_rows, check_input);
  TeamErrors errors;
  std::atomic<bool> nonfinite{false};
#pragma omp parallel num_threads(threads)
  {
    FlushDenormals flush;  // the team's threads too
    std::optional<typename Pool<Workspace<T>>::Lease> ws;  // this thread's, reserved for pass_rows: every pass fits
#pragma omp for schedule(dynamic)
    for (long pass = 0; pass < passes; ++pass) {
      if (nonfinite.load(std::memory_order_relaxed)) continue;
      errors.run([&] {
        if (!ws) {
          ws.emplace(predict_pool_.take());
          reserve_forward(**ws, pass_rows);
        }
        const long start = pass * pass_rows;
        if (!predict_batches(**ws, x + start * input_dim_, std::min(pass_rows, rows - start),
                             out + start * output_dim(), pass_rows, check_input))
          nonfinite = true;
      });
    }
  }
  errors.rethrow();
  return !nonfinite;
}

template <class T>
bool Sequential<T>::try_predict(const T* x, long rows, T* out) const {
  if (rows > kOnePassRows)
    throw std::invalid_argument("try_predict: at most " + std::to_string(kOnePassRows) + " rows, got " +
                                std::to_string(rows) + ".");
  const std::shared_lock<FairSharedMutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  if (rows > 0) predict_here(x, rows, out, rows, false);
  return true;
}

template <class T>
bool Sequential<T>::predict_here(const T* x, long rows, T* out, long pass_rows, bool check_input) const {
  const auto ws = predict_pool_.take();
  reserve_forward(*ws, pass_rows);
  return predict_batches(*ws, x, rows, out, pass_rows, check_input);
}

template <class T>
void Sequential<T>::predict(Workspace<T>& ws, const T* x, long rows, T* out) const {
  if (rows <= 0) return;
  const auto lock = lock_shared();
  if (ws.rows <= 0) reserve(ws, std::min(rows, 64L));
  predict_batches(ws, x, rows, out, ws.rows, false);
}

template <class T>
bool Sequential<T>::predict_batches(Workspace<T>& ws, const T* x, long rows, T* out, long batch,
                                    bool check_input) const {
  FlushDenormals flush;
  const long out_cols = output_dim();
  for (long start = 0; start < rows; start += batch) {
    const long n = std::min(batch, rows - start);
    bool finite = true;
    PassContext ctx;
    if (check_input) ctx.input_finite = &finite;
    const T* y = forward(ws, x + start * input_dim_, n, ctx);
    if (!finite) return false;
    backend_->copy(y, out + start * out_cols, std::size_t(n * out_cols));
  }
  return true;
}

template <class T>
const T* Sequential<T>::batch_rows(Workspace<T>& ws, const T* x, const long* index, long first, long n) const {
  if (!index) return x + first * input_dim_;
  backend_->gather_rows(x, input_dim_, index + first, n, ws.input.data());
  return ws.input.data();
}

template <class T>
std::vector<std::uint64_t> Sequential<T>::rng_state() const {
  std::vector<std::uint64_t> words(shuffle_rng_.state(), shuffle_rng_.state() + 4);
  words.insert(words.end(), noise_rng_.state(), noise_rng_.state() + 4);
  for (const auto& layer : layers_)
    if (const Rng* rng = layer->own_rng()) words.insert(words.end(), rng->state(), rng->state() + 4);
  return words;
}

template <class T>
void Sequential<T>::set_rng_state(const std::vector<std::uint64_t>& words) {
  const std::size_t expected = rng_state().size();
  if (words.size() != expected)
    throw std::invalid_argument("random generator state: expected " + std::to_string(expected) + " words, got " +
                                std::to_string(words.size()) + ".");
  shuffle_rng_.set_state(words.data());
  noise_rng_.set_state(words.data() + 4);
  std::size_t at = 8;
  for (const auto& layer : layers_)
    if (Rng* rng = layer->own_rng()) {
      rng->set_state(words.data() + at);
      at += 4;
    }
}

template <class T>
double Sequential<T>::compute_gradients(Workspace<T>& ws, const T* x, const T* y, const T* w, long rows) {
  if (!compiled_) throw std::logic_error("The model must be compiled before computing gradients.");
  reserve(ws, rows);
  const T* pred = forward(ws, x, rows, PassContext{true, &noise_rng_});
  const double loss = backend_->loss_value(loss_, pred, y, w, rows, output_dim()) + penalty(ws, rows);
  backend_->loss_gradient(loss_, fused_, pred, y, w, ws.grad.data(), rows, output_dim());
  backward(ws, x, rows, grads_.data());
  return loss;
}

template <class T>
void Sequential<T>::accumulate_metrics(const T* pred, const T* y, const T* w, long rows, double* metric_states) const {
  for (const MetricSpec& metric : metrics_) {
    backend_->metric_accumulate(metric, pred, y, w, rows, output_dim(), metric_states);
    metric_states += metric_state_size(metric);
  }
}

template <class T>
double Sequential<T>::penalty(const Workspace<T>& ws, long rows) const {
  double total = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) total += layers_[i]->penalty(*backend_, ws.outputs[i].data(), rows);
  return total;
}

template <class T>
void Sequential<T>::backward(Workspace<T>& ws, const T* x, long rows, T* param_grads, std::size_t stop) {
  // Below the lowest trainable layer no gradient is wanted: a frozen base of a network costs no backward pass.
  for (std::size_t i = layers_.size(); i-- > std::max(stop, lowest_trainable_);) {
    interruption_point();
    const T* in = i == 0 ? x : ws.outputs[i - 1].data();
    T* dx = i == lowest_trainable_ ? nullptr : ws.grad_next.data();
    const bool logits = fused_ && i + 1 == layers_.size();
    T* own_grads = layers_[i]->trainable() ? param_grads + param_offsets_[i] : nullptr;
    layers_[i]->backward(*backend_, in, ws.outputs[i].data(), ws.scratch[i].data(), ws.grad.data(), dx, rows, logits,
                         own_grads);
    std::swap(ws.grad, ws.grad_next);
  }
}

template <class T>
int Sequential<T>::training_shards(long rows) const {
  // Big products are threaded one by one instead (threading.hpp); a network of over 4M parameters is not split:
  // each extra block would hold, and the sum read, another copy of all its gradients.
  if (!splits_by_rows_ || params_.size() > (std::size_t(1) << 22) ||
      double(rows) * double(largest_layer_params_) >= kParallelWork)
    return 1;
  return shards_for(rows, 3.0 * double(rows) * double(params_.size()));  // forward, and backward's two products
}

template <class T>
double Sequential<T>::sharded_pass(Workspace<T>& ws, const T* x, const long* index, const T* y, const T* w, long rows,
                                   int shards, double* metric_states) {
  const long cols = output_dim(), block = (rows + shards - 1) / shards;
  const std::size_t n_params = params_.size();
  // Each block's gradients start on a cache line, as grads() does: Eigen's column sums (the bias gradients) add
  // in an order that depends on the address's alignment, and a block must not round differently from a rank.
  const std::size_t stride = (n_params + 15) / 16 * 16;
  if (shard_ws_.size() < std::size_t(shards)) shard_ws_.resize(std::size_t(shards));
  for (int s = 0; s < shards; ++s) reserve(shard_ws_[std::size_t(s)], block);
  shard_grads_.resize(std::size_t(shards - 1) * stride);
  T* pred = ws.outputs.back().data();  // the whole batch's prediction, then dL/d(prediction) in ws.grad
  double loss = 0;
  TeamErrors errors;
#pragma omp parallel num_threads(shards)
  {
    FlushDenormals flush;  // the team's threads too
    const int me = team_member(), team = team_size();
    for (int s = me; s < shards; s += team)  // the team may have fewer threads than blocks
      errors.run([&] {
        Workspace<T>& own = shard_ws_[std::size_t(s)];
        const auto [first, n] = block_rows(rows, block, s);
        const T* out = forward(own, batch_rows(own, x, index, first, n), n, PassContext{true, &noise_rng_});
        backend_->copy(out, pred + first * cols, std::size_t(n * cols));
      });
#pragma omp barrier
    if (me == 0)
      errors.run([&] {  // no penalty: layers with one do not split (Layer::splits_by_rows)
        loss = backend_->loss_value(loss_, pred, y, w, rows, cols);
        accumulate_metrics(pred, y, w, rows, metric_states);
        backend_->loss_gradient(loss_, fused_, pred, y, w, ws.grad.data(), rows, cols);
      });
#pragma omp barrier
    for (int s = me; s < shards; s += team)
      errors.run([&] {
        Workspace<T>& own = shard_ws_[std::size_t(s)];
        const auto [first, n] = block_rows(rows, block, s);
        backend_->copy(ws.grad.data() + first * cols, own.grad.data(), std::size_t(n * cols));
        const T* block_x = index ? own.input.data() : x + first * input_dim_;  // as gathered by the forward loop
        backward(own, block_x, n, s == 0 ? grads_.data() : shard_grads_.data() + (s - 1) * stride);
      });
#pragma omp barrier
    // The loss gradient was divided by the whole batch's rows, so the blocks' gradients add up to the batch's:
    // summed in block order (the same numbers whatever the team), each thread a run of whole cache lines.
    const auto [lo, hi] = value_run(n_params, team, me);
    if (!errors.failed())
      for (int s = 1; s < shards; ++s)
        backend_->add(shard_grads_.data() + std::size_t(s - 1) * stride + lo, grads_.data() + lo, hi - lo);
  }
  errors.rethrow();
  return loss;
}

template <class T>
int Sequential<T>::input_split_parts(long rows) const {
  if (layers_.empty() || lowest_trainable_ != 0 || !layers_[0]->splits_by_rows() ||
      !dynamic_cast<const Dense<T>*>(layers_[0].get()) || !optimizer_updates_in_parts(optimizer_) ||
      double(rows) * double(largest_layer_params_) >= kParallelWork)  // its products are threaded instead
    return 1;
  // The rest of the step runs on one thread while the others wait: most of the work must be the first layer's.
  const double first = double(layers_[0]->param_count()), rest = double(params_.size()) - first;
  return input_parts_for(input_dim_, rows, first, rest);
}

template <class T>
double Sequential<T>::input_split_pass(Workspace<T>& ws, const T* x, const long* index, const T* y, const T* w,
                                       long rows, int parts, double* metric_states, double learning_rate) {
  auto& dense = static_cast<Dense<T>&>(*layers_[0]);
  const long in = input_dim_, units = dense.output_dim(), cols = output_dim();
  // Each part's kernel rows start on a cache line where the width allows: no line is updated by two threads.
  const long line = long(64 / sizeof(T)), align = line / std::gcd(units, line);
  auto bound = [&](int p) { return p == parts ? in : std::min(in, in * p / parts / align * align); };
  part_inputs_.resize(std::size_t(parts));
  part_products_.resize(std::size_t(parts));
  part_variables_.resize(std::size_t(parts) + 1);
  const Slice kernel = variables_[0];
  for (int p = 0; p < parts; ++p) {
    const long first = bound(p), count = bound(p + 1) - first;
    part_inputs_[std::size_t(p)].resize(std::size_t(rows * count));
    if (p > 0) part_products_[std::size_t(p)].resize(std::size_t(rows * units));
    part_variables_[std::size_t(p)].assign(
        1, Slice{kernel.offset + std::size_t(first * units), std::size_t(count * units)});
  }
  std::vector<Slice>& rest = part_variables_[std::size_t(parts)];
  rest.clear();
  for (const Slice& v : trainable_variables_)
    if (v.offset != kernel.offset) rest.push_back(v);
  T *y0 = ws.outputs[0].data(), *z0 = ws.scratch[0].data(), *z = dense.pre_activation(y0, z0, rows);
  T* kernel_grads = grads_.data() + param_offsets_[0];
  double loss = 0;
  TeamErrors errors;
  auto update = [&](const std::vector<Slice>& variables) {
    backend_->optimizer_step(optimizer_, params_.data(), grads_.data(), optimizer_state_.data(), params_.size(),
                             variables, iterations_, learning_rate, 1);
  };
#pragma omp parallel num_threads(parts)
  {
    FlushDenormals flush;  // the team's threads too
    const int me = team_member(), team = team_size();
    for (int p = me; p < parts; p += team)  // the team may have fewer threads than parts
      errors.run([&] {
        const long first = bound(p), count = bound(p + 1) - first;
        T* part = part_inputs_[std::size_t(p)].data();
        for (long r = 0; r < rows; ++r)
          backend_->copy(x + (index ? index[r] : r) * in + first, part + r * count, std::size_t(count));
        dense.partial_product(*backend_, part, first, count, p == 0 ? z : part_products_[std::size_t(p)].data(),
                              rows);
      });
#pragma omp barrier
    if (me == 0)
      errors.run([&] {  // the products summed in part order, then the rest of the step, as in run_batch
        for (int p = 1; p < parts; ++p)
          backend_->add(part_products_[std::size_t(p)].data(), z, std::size_t(rows * units));
        dense.activate(*backend_, y0, z0, rows);
        const T* pred = forward_from(ws, 1, y0, rows, PassContext{true, &noise_rng_});
        loss = backend_->loss_value(loss_, pred, y, w, rows, cols) + penalty(ws, rows);
        accumulate_metrics(pred, y, w, rows, metric_states);
        backend_->loss_gradient(loss_, fused_, pred, y, w, ws.grad.data(), rows, cols);
        backward(ws, nullptr, rows, grads_.data(), 1);
        dense.output_gradient(*backend_, y0, z0, ws.grad.data(), rows, fused_ && layers_.size() == 1, kernel_grads);
      });
#pragma omp barrier
    // Nothing below throws: the update starts only once the passes are complete, and then runs to its end.
    if (!errors.failed()) {
      for (int p = me; p < parts; p += team) {
        const long first = bound(p), count = bound(p + 1) - first;
        dense.kernel_gradient(*backend_, part_inputs_[std::size_t(p)].data(), first, count, ws.grad.data(), rows,
                              kernel_grads);
        update(part_variables_[std::size_t(p)]);
      }
      if (me == 0) update(rest);
    }
  }
  errors.rethrow();
  return loss;
}

template <class T>
void Sequential<T>::set_communicator(std::shared_ptr<Communicator> communicator) {
  if (communicator && communicator->size() > 1)
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      // Dropout draws the whole batch's masks on every rank (PassContext); what else does not split by rows
      // needs the whole batch at once.
      if (layers_[i]->splits_by_rows() || configs_[i].type == "dropout") continue;
      const std::string why = configs_[i].type == "batch_normalization"
                                  ? "it normalizes with the whole batch's statistics, which each rank does not have "
                                    "(synchronised batch normalization is not implemented)"
                                  : "its regularization penalty would be counted once per rank";
      throw std::invalid_argument("DataParallel: layer " + std::to_string(i) + " (" + configs_[i].type +
                                  ") cannot be trained data-parallel: " + why + ".");
    }
  communicator_ = std::move(communicator);
}

template <class T>
void Sequential<T>::set_training_blocks(int blocks) {
  if (blocks < 0) throw std::invalid_argument("training blocks must be >= 0, got " + std::to_string(blocks) + ".");
  if (blocks > 1 && !splits_by_rows_)
    throw std::invalid_argument("this model's training batches cannot be split into blocks of rows (dropout, batch "
                                "normalization or regularization penalties).");
  training_blocks_ = blocks;
}

template <class T>
double Sequential<T>::data_parallel_pass(Workspace<T>& ws, const T* x, const long* index, const T* y, const T* w,
                                         long rows, double* metric_states) {
  Communicator& comm = *communicator_;
  const int ranks = comm.size(), me = comm.rank();
  const long cols = output_dim(), block = (rows + ranks - 1) / ranks;
  // This rank's block, as sharded_pass splits a batch (the last blocks may be short, or empty).
  const auto [first, n] = block_rows(rows, block, me);
  const T* block_x = batch_rows(ws, x, index, first, n);
  const T* out = forward(ws, block_x, n, PassContext{true, &noise_rng_, first, rows});
  // Every rank gathers the whole batch's predictions and computes the loss, the metrics and the loss gradient
  // as one process would: the same bits everywhere, and the loss divided by the whole batch's rows.
  batch_pred_.resize(std::size_t(rows * cols));
  backend_->copy(out, batch_pred_.data() + first * cols, std::size_t(n * cols));
  std::vector<std::size_t> counts;
  for (int r = 0; r < ranks; ++r)
    counts.push_back(std::size_t(block_rows(rows, block, r).second * cols) * sizeof(T));
  comm.all_gather(batch_pred_.data(), counts);
  const T* pred = batch_pred_.data();
  const double loss = backend_->loss_value(loss_, pred, y, w, rows, cols);  // (no penalties: set_communicator)
  accumulate_metrics(pred, y, w, rows, metric_states);
  backend_->loss_gradient(loss_, fused_, pred, y, w, ws.grad_next.data(), rows, cols);
  backend_->copy(ws.grad_next.data() + first * cols, ws.grad.data(), std::size_t(n * cols));
  backward(ws, block_x, n, grads_.data());
  sum_gradients_over_ranks();
  return loss;
}

template <class T>
void Sequential<T>::sum_gradients_over_ranks() {
  Communicator& comm = *communicator_;
  const int ranks = comm.size(), me = comm.rank();
  const std::size_t n = grads_.size();
  // Rank r sums run r, as sharded_pass's threads share the sum.
  const auto [lo, hi] = value_run(n, ranks, me);
  const std::size_t len = hi - lo;
  std::vector<std::size_t> runs, mine(std::size_t(ranks), len * sizeof(T));
  for (int r = 0; r < ranks; ++r) {
    const auto [r_lo, r_hi] = value_run(n, ranks, r);
    runs.push_back((r_hi - r_lo) * sizeof(T));
  }
  rank_grads_.resize(std::size_t(ranks) * len);
  comm.all_to_all(grads_.data(), runs, rank_grads_.data(), mine);
  // In rank order, as sharded_pass adds its blocks: ((g0 + g1) + g2) + ...
  backend_->copy(rank_grads_.data(), grads_.data() + lo, len);
  for (int r = 1; r < ranks; ++r) backend_->add(rank_grads_.data() + std::size_t(r) * len, grads_.data() + lo, len);
  comm.all_gather(grads_.data(), runs);
}

template <class T>
double Sequential<T>::run_batch(Workspace<T>& ws, const T* x, const long* index, const T* y, const T* w, long rows,
                                bool training, double* metric_states, double learning_rate) {
  if (!compiled_) throw std::logic_error("The model must be compiled before training or evaluation.");
  reserve(ws, rows);
  const long cols = output_dim();
  // Until the optimizer step (the last thing, and never interrupted) a training batch changes only the
  // moving statistics and the generators: kept here to undo.
  std::vector<std::uint64_t> rng_backup;
  if (training) {
    state_backup_.resize(state_.size());
    backend_->copy(state_.data(), state_backup_.data(), state_.size());
    rng_backup = rng_state();
  }
  try {
    double loss;
    const bool data_parallel = training && communicator_ && communicator_->size() > 1;
    const int parts = !training || data_parallel || training_blocks_ ? 1 : input_split_parts(rows);
    if (parts > 1) {  // the update too
      loss = input_split_pass(ws, x, index, y, w, rows, parts, metric_states, learning_rate);
      ++iterations_;
      return loss;
    }
    const int shards = !training || data_parallel ? 1 : training_blocks_ ? training_blocks_ : training_shards(rows);
    if (data_parallel) {
      loss = data_parallel_pass(ws, x, index, y, w, rows, metric_states);
    } else if (shards > 1) {
      loss = sharded_pass(ws, x, index, y, w, rows, shards, metric_states);
    } else {
      x = batch_rows(ws, x, index, 0, rows);
      const T* pred = forward(ws, x, rows, training ? PassContext{true, &noise_rng_} : PassContext{});
      loss = backend_->loss_value(loss_, pred, y, w, rows, cols) + penalty(ws, rows);
      accumulate_metrics(pred, y, w, rows, metric_states);
      if (!training) return loss;
      backend_->loss_gradient(loss_, fused_, pred, y, w, ws.grad.data(), rows, cols);
      backward(ws, x, rows, grads_.data());
    }
    // grads_ now holds the batch's gradients (summed over the ranks in data parallelism). A split batch's threads
    // share the update too (0: the buffer's size decides).
    backend_->optimizer_step(optimizer_, params_.data(), grads_.data(), optimizer_state_.data(), params_.size(),
                             trainable_variables_, iterations_, learning_rate, shards > 1 ? shards : 0);
    ++iterations_;
    return loss;
  } catch (...) {
    if (training) {
      backend_->copy(state_backup_.data(), state_.data(), state_.size());
      set_rng_state(rng_backup);
    }
    throw;
  }
}

template <class T>
DataPass<T>::DataPass(Sequential<T>& model, const T* x, const T* y, long y_cols, const T* w, long rows,
                      long batch_size, bool training, bool shuffle, std::vector<double> learning_rates)
    : model_(model), x_(x), y_(y), w_(w), y_cols_(y_cols), rows_(rows), batch_size_(batch_size), training_(training),
      learning_rates_(std::move(learning_rates)) {
  const auto lock = model.lock_exclusive();  // reads the compiled loss and metrics, draws the shuffling order
  compile_count_ = model.compile_count();
  metrics_ = model.metrics();
  if (!model.compiled()) throw std::logic_error("The model must be compiled before training or evaluation.");
  if (rows <= 0) throw std::invalid_argument("the data set is empty.");
  if (batch_size <= 0) throw std::invalid_argument("batch_size must be positive, got " + std::to_string(batch_size) + ".");
  if (y_cols != model.target_cols())
    throw std::invalid_argument("y: expected " + std::to_string(model.target_cols()) + " columns for the compiled loss, got " +
                                std::to_string(y_cols) + ".");
  loss_check_targets(model.loss(), y, rows, model.output_dim());
  batch_size_ = std::min(batch_size, rows);
  steps_ = (rows + batch_size_ - 1) / batch_size_;
  if (!learning_rates_.empty() && long(learning_rates_.size()) != steps_)
    throw std::invalid_argument("learning_rates: expected one rate per step (" + std::to_string(steps_) + "), got " +
                                std::to_string(learning_rates_.size()) + ".");
  long state_size = 0;
  for (const MetricSpec& metric : metrics_) state_size += metric_state_size(metric);
  metric_states_.assign(std::size_t(state_size), 0.0);
  if (shuffle) {
    order_.resize(std::size_t(rows));
    std::iota(order_.begin(), order_.end(), 0L);
    model.shuffle_rng().shuffle(order_.data(), std::uint64_t(rows));
  }
}

template <class T>
long DataPass<T>::run(long max_steps, double max_seconds) {
  FlushDenormals flush;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  Workspace<T>& ws = model_.training_workspace();
  const long in_cols = model_.input_dim();
  long ran = 0;
  while (step_ < steps_ && ran < max_steps) {
    interruption_point();
    const auto lock = model_.lock_exclusive();  // per batch: predicts in other threads run between batches
    // The targets' width and the metric states were sized for the compiled loss and metrics.
    if (model_.compile_count() != compile_count_)
      throw std::logic_error("The model was compiled again while a training or evaluation pass was running.");
    model_.reserve(ws, batch_size_);  // the training workspace is the lock holder's: sized under the lock
    const long first = step_ * batch_size_;
    const long n = std::min(batch_size_, rows_ - first);
    const T *x = x_ + first * in_cols, *y = y_ + first * y_cols_, *w = w_ ? w_ + first : nullptr;
    const long* index = nullptr;
    if (!order_.empty()) {  // the shuffled rows: x's are gathered by run_batch, the targets' and weights' here
      index = order_.data() + first;
      x = x_;
      model_.backend().gather_rows(y_, y_cols_, index, n, ws.target.data());
      if (w_) model_.backend().gather_rows(w_, 1, index, n, ws.weight.data());
      y = ws.target.data();
      w = w_ ? ws.weight.data() : nullptr;
    }
    const double lr = learning_rates_.empty() ? model_.optimizer().learning_rate : learning_rates_[std::size_t(step_)];
    metric_backup_.assign(metric_states_.begin(), metric_states_.end());
    double loss;
    try {
      loss = model_.run_batch(ws, x, index, y, w, n, training_, metric_states_.data(), lr);
    } catch (const ExchangeTimeout& e) {  // the batch did not happen (run_batch undid its changes to the model)
      metric_states_.swap(metric_backup_);
      throw ExchangeTimeout(exchange_failure(e));
    } catch (const ExchangeError& e) {
      metric_states_.swap(metric_backup_);
      throw ExchangeError(exchange_failure(e));
    } catch (...) {
      metric_states_.swap(metric_backup_);
      throw;
    }
    loss_sum_ += loss * double(n);
    seen_ += n;
    ++step_;
    ++ran;
    if (max_seconds > 0 && std::chrono::duration<double>(Clock::now() - start).count() >= max_seconds) break;
  }
  return ran;
}

template <class T>
void DataPass<T>::continue_from(const DataPass& previous) {
  if (&previous.model_ != &model_ || previous.compile_count_ != compile_count_ || previous.training_ != training_)
    throw std::invalid_argument("continue_from: the previous pass is of another model, compile or mode.");
  if (step_ != 0) throw std::invalid_argument("continue_from: this pass has already run steps.");
  loss_sum_ = previous.loss_sum_;
  seen_ = previous.seen_;
  metric_states_ = previous.metric_states_;
}

template <class T>
std::string DataPass<T>::exchange_failure(const ExchangeError& e) const {
  return "DataParallel: training step " + std::to_string(step_ + 1) + " of " + std::to_string(steps_) + ": " +
         e.what() + ".";
}

template <class T>
std::vector<double> DataPass<T>::metric_values() const {
  std::vector<double> values;
  const double* state = metric_states_.data();
  for (const MetricSpec& metric : metrics_) {
    values.push_back(metric_result(metric, state));
    state += metric_state_size(metric);
  }
  return values;
}

template class Sequential<float>;
template class Sequential<double>;
template class DataPass<float>;
template class DataPass<double>;

}  // namespace densenn
