#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "densenn/backend.hpp"
#include "densenn/buffer.hpp"
#include "densenn/interrupt.hpp"
#include "cpu_kernels.hpp"
#include "denormals.hpp"
#include "threading.hpp"

namespace densenn {
namespace {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Larger products (over ~1G multiply-adds, 20-100 ms) and activations (over 16M
// values) run in blocks with an interruption point between them, so that Ctrl-C
// is seen within a fraction of a second even in one huge batch. Blocks of rows
// or columns give the same numbers as one product; blocks of the inner
// dimension (when it is the largest) add their partial products in turn.
constexpr double kInterruptibleWork = double(1L << 30);
constexpr long kInterruptibleValues = 1L << 24;

// Eigen's GEMM blocking (the sizes its gemm_blocking_space picks) over packing
// buffers that live as long as the thread. Eigen's own product mallocs and
// frees them on every call (up to a few MB, above glibc's trim threshold),
// and each product then paid page faults to get the memory back from the OS:
// a 784-100-50-10 network trained 1.2-1.4x faster without. The buffers stay
// cache-sized (blocks of the L2 and L3 caches), per thread.
template <class T>
class ThreadBlocking final : public Eigen::internal::level3_blocking<T, T> {
 public:
  // For a row-major destination, rows x cols, of a product with inner dimension depth: Eigen computes its
  // transpose, so its blocks of "rows" are the destination's columns.
  ThreadBlocking(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
    this->m_mc = cols;
    this->m_nc = rows;
    this->m_kc = depth;
    Eigen::internal::computeProductBlockingSizes<T, T, 1, Eigen::Index>(this->m_kc, this->m_mc, this->m_nc, 1);
    thread_local Buffer<T> block_a, block_b;
    this->m_blockA = at_least(block_a, this->m_mc * this->m_kc);
    this->m_blockB = at_least(block_b, this->m_kc * this->m_nc);
  }

 private:
  static T* at_least(Buffer<T>& buffer, Eigen::Index size) {
    if (buffer.size() < std::size_t(size)) buffer = Buffer<T>(std::size_t(size));
    return buffer.data();
  }
};

// c (+)= a * b, single-threaded. Products that Eigen packs into blocks run its GEMM (what c.noalias() = a * b
// runs, the same numbers) on this thread's packing buffers; vectors and tiny products take Eigen's usual path.
template <class C, class A, class B>
void multiply_into(C&& c, const A& a, const B& b, bool accumulate) {
  namespace ei = Eigen::internal;
  using Dst = std::remove_reference_t<C>;
  using Scalar = typename Dst::Scalar;
  static_assert(Dst::Flags & Eigen::RowMajorBit, "densenn's matrices are row-major");
  const Eigen::Index m = c.rows(), n = c.cols(), k = a.cols();
  if (m <= 1 || n <= 1 || k == 0 || m + n + k < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD) {
    if (accumulate)
      c.noalias() += a * b;
    else
      c.noalias() = a * b;
    return;
  }
  using LhsTraits = ei::blas_traits<A>;
  using RhsTraits = ei::blas_traits<B>;
  using Lhs = typename ei::remove_all<typename LhsTraits::DirectLinearAccessType>::type;
  using Rhs = typename ei::remove_all<typename RhsTraits::DirectLinearAccessType>::type;
  typename ei::add_const_on_value_type<typename LhsTraits::DirectLinearAccessType>::type lhs = LhsTraits::extract(a);
  typename ei::add_const_on_value_type<typename RhsTraits::DirectLinearAccessType>::type rhs = RhsTraits::extract(b);
  using Gemm = ei::general_matrix_matrix_product<Eigen::Index, Scalar, (Lhs::Flags & Eigen::RowMajorBit) ? Eigen::RowMajor : Eigen::ColMajor,
                                                 false, Scalar, (Rhs::Flags & Eigen::RowMajorBit) ? Eigen::RowMajor : Eigen::ColMajor,
                                                 false, Eigen::RowMajor, Dst::InnerStrideAtCompileTime>;
  if (!accumulate) c.setZero();
  ThreadBlocking<Scalar> blocking(m, n, k);
  Gemm::run(m, n, k, lhs.data(), lhs.outerStride(), rhs.data(), rhs.outerStride(), c.data(), c.innerStride(),
            c.outerStride(), Scalar(1), blocking);
}

// c (+)= a * b, split into one block of rows (or of columns, when c is wide)
// per thread for large products; each block is a single-threaded Eigen GEMM.
template <class A, class B, class C>
void threaded_product(const A& a, const B& b, C&& c, bool accumulate) {
  const long m = c.rows(), n = c.cols(), k = a.cols();
  const int threads = threads_for(double(m) * double(n) * double(k));
  if (threads <= 1) {
    multiply_into(c, a, b, accumulate);
    return;
  }
  const bool by_rows = m >= n;
  const long extent = by_rows ? m : n;
  // Blocks in multiples of 16 keep every block's start aligned to whole SIMD packets.
  const long block = (extent / threads + 15) / 16 * 16;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    FlushDenormals flush;  // the team's threads too, as the caller's
    const long start = std::min(extent, t * block);
    const long size = t + 1 == threads ? extent - start : std::min(block, extent - start);
    if (size <= 0) continue;
    if (by_rows)
      multiply_into(c.middleRows(start, size), a.middleRows(start, size), b, accumulate);
    else
      multiply_into(c.middleCols(start, size), a, b.middleCols(start, size), accumulate);
  }
}

// Blocks of ~equal size, multiples of 16, that split `extent` into at least `parts`.
template <class F>
void in_blocks(long extent, long parts, F&& f) {
  const long block = std::max(16L, (extent / parts + 15) / 16 * 16);
  for (long start = 0; start < extent; start += block) {
    interruption_point();
    f(start, std::min(block, extent - start));
  }
}

// threaded_product, in blocks of the largest dimension when the product is large (see kInterruptibleWork).
template <class A, class B, class C>
void product(const A& a, const B& b, C& c, bool accumulate) {
  const long m = c.rows(), n = c.cols(), k = a.cols();
  const double work = double(m) * double(n) * double(k);
  if (work <= kInterruptibleWork) {
    threaded_product(a, b, c, accumulate);
    return;
  }
  const long parts = long(std::ceil(work / kInterruptibleWork));
  if (m >= n && m >= k)
    in_blocks(m, parts, [&](long start, long size) {
      threaded_product(a.middleRows(start, size), b, c.middleRows(start, size), accumulate);
    });
  else if (n >= k)
    in_blocks(n, parts, [&](long start, long size) {
      threaded_product(a, b.middleCols(start, size), c.middleCols(start, size), accumulate);
    });
  else
    in_blocks(k, parts, [&](long start, long size) {
      threaded_product(a.middleCols(start, size), b.middleRows(start, size), c, accumulate || start > 0);
    });
}

// f(first_row, row_count) over blocks of ~kInterruptibleValues values, with an interruption point before
// each. Blocks of 16 rows keep every block's start aligned as the whole array's, so the same values take
// Eigen's packet and scalar paths as without blocks: the numbers do not change.
template <class F>
void in_row_blocks(long rows, long cols, F&& f) {
  if (double(rows) * double(cols) <= double(kInterruptibleValues)) {
    f(0L, rows);
    return;
  }
  const long block = std::max(16L, kInterruptibleValues / std::max(1L, cols) / 16 * 16);
  for (long start = 0; start < rows; start += block) {
    interruption_point();
    f(start, std::min(block, rows - start));
  }
}

template <class T>
class CpuBackend final : public Backend<T> {
 public:
  const char* name() const override { return "cpu"; }

  void matmul(bool trans_a, bool trans_b, long m, long n, long k, const T* a, const T* b, T* c,
              bool accumulate) override {
    Eigen::Map<const Mat<T>> A(a, trans_a ? k : m, trans_a ? m : k);
    Eigen::Map<const Mat<T>> B(b, trans_b ? n : k, trans_b ? k : n);
    Eigen::Map<Mat<T>> C(c, m, n);
    if (trans_a && trans_b)
      product(A.transpose(), B.transpose(), C, accumulate);
    else if (trans_a)
      product(A.transpose(), B, C, accumulate);
    else if (trans_b)
      product(A, B.transpose(), C, accumulate);
    else
      product(A, B, C, accumulate);
  }

  void bias_activation_forward(const ActivationSpec& act, const T* bias, T* z, T* y, long rows,
                               long cols) override {
    in_row_blocks(rows, cols, [&](long first, long n) {  // activations work row by row
      T *zb = z + first * cols, *yb = y + first * cols;
      if (bias) {
        Eigen::Map<Mat<T>> Z(zb, n, cols);
        Z.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias, cols);
      }
      activation_forward(act, zb, yb, n, cols);
    });
  }

  void activation_backward(const ActivationSpec& act, const T* z, const T* y, T* grad, long rows,
                           long cols) override {
    in_row_blocks(rows, cols, [&](long first, long n) {
      const long at = first * cols;
      densenn::activation_backward(act, z ? z + at : nullptr, y ? y + at : nullptr, grad + at, n, cols);
    });
  }

  void bias_gradient(const T* grad, T* db, long rows, long cols) override {
    Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(db, cols) = Eigen::Map<const Mat<T>>(grad, rows, cols).colwise().sum();
  }

  void gather_rows(const T* src, long cols, const long* index, long count, T* dst) override {
    for (long i = 0; i < count; ++i) std::memcpy(dst + i * cols, src + index[i] * cols, sizeof(T) * cols);
  }

  void copy(const T* src, T* dst, std::size_t n) override { std::copy(src, src + n, dst); }

  void add(const T* src, T* dst, std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
  }

  void dropout_forward(double rate, Rng& rng, const T* x, T* y, T* mask, long n) override {
    const T keep_scale = T(1.0 / (1.0 - rate));
    for (long i = 0; i < n; ++i) {
      mask[i] = rng.uniform() >= rate ? keep_scale : T(0);
      y[i] = x[i] * mask[i];
    }
  }

  void dropout_backward(const T* mask, const T* grad, T* dx, long n) override {
    for (long i = 0; i < n; ++i) dx[i] = grad[i] * mask[i];
  }

  // Each feature's statistics add its rows in order, as a column-by-column loop would, but the batch is read
  // row by row (contiguous) into per-feature sums.
  void batch_norm_forward(const BatchNormWeights<T>& bn, bool training, const T* x, T* x_hat, T* inv_std, T* y,
                          long rows) override {
    const long dim = bn.features;
    const double* mean = nullptr;
    if (training) {  // batch statistics, accumulated in double
      std::vector<double>& sum = column_sums(0, dim);     // then the means
      std::vector<double>& sum_sq = column_sums(1, dim);  // the sums of squared deviations
      for (long r = 0; r < rows; ++r)
        for (long j = 0; j < dim; ++j) sum[j] += double(x[r * dim + j]);
      for (long j = 0; j < dim; ++j) sum[j] /= double(rows);
      for (long r = 0; r < rows; ++r)
        for (long j = 0; j < dim; ++j) {
          const double d = double(x[r * dim + j]) - sum[j];
          sum_sq[j] += d * d;
        }
      for (long j = 0; j < dim; ++j) {
        const double variance = sum_sq[j] / double(rows);
        bn.moving_mean[j] = T(double(bn.moving_mean[j]) * bn.momentum + sum[j] * (1 - bn.momentum));
        bn.moving_variance[j] = T(double(bn.moving_variance[j]) * bn.momentum + variance * (1 - bn.momentum));
        inv_std[j] = T(1.0 / std::sqrt(variance + bn.epsilon));
      }
      mean = sum.data();
    } else {
      for (long j = 0; j < dim; ++j) inv_std[j] = T(1.0 / std::sqrt(double(bn.moving_variance[j]) + bn.epsilon));
    }
    for (long r = 0; r < rows; ++r)
      for (long j = 0; j < dim; ++j) {
        const long i = r * dim + j;
        const double m = mean ? mean[j] : double(bn.moving_mean[j]);
        const T g = bn.gamma ? bn.gamma[j] : T(1), b = bn.beta ? bn.beta[j] : T(0);
        x_hat[i] = T((double(x[i]) - m) * double(inv_std[j]));
        y[i] = g * x_hat[i] + b;
      }
  }

  void batch_norm_backward(const BatchNormWeights<T>& bn, bool batch_statistics, const T* x_hat, const T* inv_std,
                           const T* grad, T* dx, T* dgamma, T* dbeta, long rows) override {
    const long dim = bn.features;
    std::vector<double>& sum_dy = column_sums(0, dim);
    std::vector<double>& sum_dy_xhat = column_sums(1, dim);
    for (long r = 0; r < rows; ++r)
      for (long j = 0; j < dim; ++j) {
        sum_dy[j] += double(grad[r * dim + j]);
        sum_dy_xhat[j] += double(grad[r * dim + j]) * double(x_hat[r * dim + j]);
      }
    for (long j = 0; j < dim; ++j) {
      if (dgamma) dgamma[j] = T(sum_dy_xhat[j]);
      if (dbeta) dbeta[j] = T(sum_dy[j]);
    }
    if (!dx) return;
    if (!batch_statistics) {  // y = g * (x - moving mean) / moving std + b: dx = g/std * dy
      for (long r = 0; r < rows; ++r)
        for (long j = 0; j < dim; ++j) {
          const long i = r * dim + j;
          const double g = bn.gamma ? double(bn.gamma[j]) : 1.0;
          dx[i] = T(g * double(inv_std[j]) * double(grad[i]));
        }
      return;
    }
    // Through the batch statistics: dx = g/std * (dy - mean(dy) - x_hat * mean(dy * x_hat)).
    for (long r = 0; r < rows; ++r)
      for (long j = 0; j < dim; ++j) {
        const long i = r * dim + j;
        const double g = bn.gamma ? double(bn.gamma[j]) : 1.0;
        const double scale = g * double(inv_std[j]);
        const double mean_dy = sum_dy[j] / double(rows), mean_dy_xhat = sum_dy_xhat[j] / double(rows);
        dx[i] = T(scale * (double(grad[i]) - mean_dy - double(x_hat[i]) * mean_dy_xhat));
      }
  }

  void maxout_forward(const T* z, T* y, long rows, long units, long pieces) override {
    const long width = units * pieces;
    for (long r = 0; r < rows; ++r)
      for (long u = 0; u < units; ++u) {
        const T* piece = z + r * width + u * pieces;
        y[r * units + u] = *std::max_element(piece, piece + pieces);
      }
  }

  void maxout_backward(const T* z, const T* grad, T* dz, long rows, long units, long pieces) override {
    const long width = units * pieces;
    std::fill(dz, dz + rows * width, T(0));
    for (long r = 0; r < rows; ++r)
      for (long u = 0; u < units; ++u) {
        const T* piece = z + r * width + u * pieces;
        const long best = long(std::max_element(piece, piece + pieces) - piece);
        dz[r * width + u * pieces + best] = grad[r * units + u];
      }
  }

  double penalty(double l1, double l2, const T* v, long n) override {
    double abs_sum = 0, square_sum = 0;
    for (long i = 0; i < n; ++i) {
      abs_sum += std::abs(double(v[i]));
      square_sum += double(v[i]) * double(v[i]);
    }
    return l1 * abs_sum + l2 * square_sum;
  }

  void add_penalty_gradient(double l1, double l2, const T* v, T* grad, long n, double scale) override {
    for (long i = 0; i < n; ++i) {
      const double sign = v[i] > 0 ? 1.0 : (v[i] < 0 ? -1.0 : 0.0);
      grad[i] += T(scale * (l1 * sign + 2 * l2 * double(v[i])));
    }
  }

  double loss_value(const LossSpec& loss, const T* pred, const T* target, const T* w, long rows,
                    long cols) override {
    return densenn::loss_value(loss, pred, target, w, rows, cols);
  }

  void loss_per_sample(const LossSpec& loss, const T* pred, const T* target, long rows, long cols,
                       double* values) override {
    densenn::loss_per_sample(loss, pred, target, rows, cols, values);
  }

  void loss_gradient(const LossSpec& loss, bool fused, const T* pred, const T* target, const T* w, T* grad,
                     long rows, long cols) override {
    densenn::loss_gradient(loss, fused, pred, target, w, grad, rows, cols);
  }

  void metric_accumulate(const MetricSpec& metric, const T* pred, const T* target, const T* w, long rows, long cols,
                         double* state) override {
    densenn::metric_accumulate(metric, pred, target, w, rows, cols, state);
  }

  void optimizer_initialize_state(const OptimizerConfig& config, T* state, std::size_t n) override {
    densenn::optimizer_initialize_state(config, state, n);
  }

  void optimizer_step(const OptimizerConfig& config, T* params, const T* grads, T* state, std::size_t n,
                      const std::vector<Slice>& variables, long long iteration, double learning_rate,
                      int threads) override {
    densenn::optimizer_step(config, params, grads, state, n, variables, iteration, learning_rate, threads);
  }

 private:
  // Per-feature sums in double, zeroed, per thread: the backend serves every model and thread at once.
  static std::vector<double>& column_sums(int which, long features) {
    thread_local std::vector<double> sums[2];
    sums[which].assign(std::size_t(features), 0.0);
    return sums[which];
  }
};

}  // namespace

template <class T>
Backend<T>& cpu_backend() {
  static CpuBackend<T> backend;
  return backend;
}

template Backend<float>& cpu_backend<float>();
template Backend<double>& cpu_backend<double>();

}  // namespace densenn
