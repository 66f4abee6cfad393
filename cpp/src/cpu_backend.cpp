#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "densenn/backend.hpp"
#include "densenn/buffer.hpp"
#include "densenn/interrupt.hpp"
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
// W1 trained 1.2-1.4x faster without. The buffers stay cache-sized (blocks of
// the L2 and L3 caches), per thread.
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

  double loss_value(const LossSpec& loss, const T* pred, const T* target, const T* w, long rows,
                    long cols) override {
    return densenn::loss_value(loss, pred, target, w, rows, cols);
  }

  void loss_gradient(const LossSpec& loss, bool fused, const T* pred, const T* target, const T* w, T* grad,
                     long rows, long cols) override {
    densenn::loss_gradient(loss, fused, pred, target, w, grad, rows, cols);
  }

  void metric_accumulate(const MetricSpec& metric, const T* pred, const T* target, const T* w, long rows, long cols,
                         double* state) override {
    densenn::metric_accumulate(metric, pred, target, w, rows, cols, state);
  }

  void optimizer_step(const OptimizerConfig& config, T* params, const T* grads, T* state, std::size_t n,
                      const std::vector<Slice>& variables, long long iteration, double learning_rate,
                      int threads) override {
    densenn::optimizer_step(config, params, grads, state, n, variables, iteration, learning_rate, threads);
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
