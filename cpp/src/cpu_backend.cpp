#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
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

// A product's operand: a row-major matrix in memory, `stride` values between its rows, read as it is or
// transposed (rows x cols as the product reads it). Blocks of operands are operands again, so that Eigen's
// product code is compiled once per pair of transpositions and scalar type, not once per kind of block.
template <class T>
struct Operand {
  const T* data;
  long rows, cols, stride;
  bool transposed;

  Operand middle_rows(long start, long size) const {
    return {data + (transposed ? start : start * stride), size, cols, stride, transposed};
  }
  Operand middle_cols(long start, long size) const {
    return {data + (transposed ? start * stride : start), rows, size, stride, transposed};
  }
};

// A product's destination: row-major, `stride` values between its rows.
template <class T>
struct Destination {
  T* data;
  long rows, cols, stride;

  Destination middle_rows(long start, long size) const { return {data + start * stride, size, cols, stride}; }
  Destination middle_cols(long start, long size) const { return {data + start, rows, size, stride}; }
};

template <class T>
using ConstStrided = Eigen::Map<const Mat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using Strided = Eigen::Map<Mat<T>, 0, Eigen::OuterStride<>>;

// The operand as stored (its transpose when it is read transposed).
template <class T>
ConstStrided<T> stored(const Operand<T>& x) {
  return x.transposed ? ConstStrided<T>(x.data, x.cols, x.rows, Eigen::OuterStride<>(x.stride))
                      : ConstStrided<T>(x.data, x.rows, x.cols, Eigen::OuterStride<>(x.stride));
}

// c (+)= a * b, single-threaded. Products that Eigen packs into blocks run its GEMM (what c.noalias() = a * b
// runs, the same numbers) on this thread's packing buffers; vectors and tiny products take Eigen's usual path.
template <class C, class A, class B>
void eigen_multiply_into(C& c, const A& a, const B& b, bool accumulate) {
  namespace ei = Eigen::internal;
  using Scalar = typename C::Scalar;
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
                                                 false, Eigen::RowMajor, C::InnerStrideAtCompileTime>;
  if (!accumulate) {  // contiguous rows in one fill (Eigen fills a strided map row by row)
    if (c.outerStride() == n)
      Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>(c.data(), m * n).setZero();
    else
      c.setZero();
  }
  ThreadBlocking<Scalar> blocking(m, n, k);
  Gemm::run(m, n, k, lhs.data(), lhs.outerStride(), rhs.data(), rhs.outerStride(), c.data(), c.innerStride(),
            c.outerStride(), Scalar(1), blocking);
}

template <class T>
bool narrow_rows_product_fits(long n, long k);
template <class T>
void narrow_rows_product(const Destination<T>& c, const Operand<T>& a, const T* b, long ldb, bool accumulate);

// c (+)= a * b, single-threaded: narrow products in register tiles (narrow_rows_product), the rest Eigen's.
template <class T>
void multiply_into(const Destination<T>& c, const Operand<T>& a, const Operand<T>& b, bool accumulate) {
  if (!b.transposed && narrow_rows_product_fits<T>(c.cols, a.cols))
    return narrow_rows_product(c, a, b.data, b.stride, accumulate);
  Strided<T> C(c.data, c.rows, c.cols, Eigen::OuterStride<>(c.stride));
  const ConstStrided<T> A = stored(a), B = stored(b);
  if (a.transposed && b.transposed)
    eigen_multiply_into(C, A.transpose(), B.transpose(), accumulate);
  else if (a.transposed)
    eigen_multiply_into(C, A.transpose(), B, accumulate);
  else if (b.transposed)
    eigen_multiply_into(C, A, B.transpose(), accumulate);
  else
    eigen_multiply_into(C, A, B, accumulate);
}

// Products of kParallelWork multiply-adds or more run as blocks of rows (or of columns, when c is wide), each
// a single-threaded product (multiply_into), which the threads share. The blocks depend only on the product's
// shape, never on the thread count: a value's summation order depends on where it falls in its block (Eigen
// treats the rows and columns left over from its register blocks apart), so one thread running all the blocks
// gives the same numbers as many. Blocks of ~kBlockWork multiply-adds (four or more per product, so that
// threads share them evenly also when one is slowed by another process) and at least kMinBlock wide (packing
// the other operand once per block then costs ~1%).
constexpr double kBlockWork = kParallelWork / 4;
constexpr long kMinBlock = 256;

template <class T>
void threaded_product(const Operand<T>& a, const Operand<T>& b, const Destination<T>& c, bool accumulate) {
  const long m = c.rows, n = c.cols, k = a.cols;
  const double work = double(m) * double(n) * double(k);
  const bool by_rows = m >= n;
  const long extent = by_rows ? m : n;
  // Multiples of 16 keep every block's start aligned to whole SIMD packets.
  const long block = std::max(kMinBlock, (long(double(extent) * kBlockWork / std::max(work, 1.0)) + 15) / 16 * 16);
  if (work < kParallelWork || block >= extent) {
    multiply_into(c, a, b, accumulate);
    return;
  }
  const long blocks = (extent + block - 1) / block;
  const int threads = int(std::min<long>(threads_for(work), blocks));
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1)
  for (long i = 0; i < blocks; ++i) {
    FlushDenormals flush;  // the team's threads too, as the caller's
    const long start = i * block, size = std::min(block, extent - start);
    if (by_rows)
      multiply_into(c.middle_rows(start, size), a.middle_rows(start, size), b, accumulate);
    else
      multiply_into(c.middle_cols(start, size), a, b.middle_cols(start, size), accumulate);
  }
}

// c (m x n) (+)= a (m x k) * b (k x n), all row-major, for a few rows (few_rows_product_fits): one-row and
// small-batch predicts. Eigen would run a GEMV that walks b column block by column block (short strided
// reads), or pack all of b for a GEMM of a few rows (reading it twice and writing a copy). Here b is streamed
// once, eight of its rows at a time, into partial sums held in a strip of c that stays in L1; every value of c
// is one chain of multiply-adds in k's order, so the numbers do not depend on the strips, nor on how many
// threads share them.
constexpr long kFewRows = 4;
// Up to 8 rows when b is large (256K values: 1 MB in float32, beyond L2) and wider than narrow_row's layers:
// reading b then bounds the product, and this reads it once (a 1024-2048-2048-10 network predicted 5 and 8
// rows 2.2x and 1.6x faster than with Eigen's GEMM).
constexpr long kFewRowsLarge = 8;
constexpr double kLargeOperand = double(1 << 18);
constexpr long kStripValues = 2048;  // partial sums per strip (8 KB in float32)

// c[j] += x[0] * b0[j] + ... + x[g_n - 1] * b[(g_n - 1) * ldb + j], one multiply-add at a time in that order,
// for j from `from` up to the last whole packet of type Packet below `to`; returns where it stopped.
template <class Packet, class T>
long few_rows_columns(const T* x, int g_n, const T* b, long ldb, T* c, long from, long to) {
  namespace ei = Eigen::internal;
  constexpr long P = ei::unpacket_traits<Packet>::size;
  constexpr int G = 8;
  long j = from;
  if (g_n == G) {  // the common case, with the broadcasts hoisted
    Packet xs[G];
    for (int g = 0; g < G; ++g) xs[g] = ei::pset1<Packet>(x[g]);
    for (; j + P <= to; j += P) {
      Packet acc = ei::ploadu<Packet>(c + j);
      for (int g = 0; g < G; ++g) acc = ei::pmadd(xs[g], ei::ploadu<Packet>(b + g * ldb + j), acc);
      ei::pstoreu(c + j, acc);
    }
  } else {
    for (; j + P <= to; j += P) {
      Packet acc = ei::ploadu<Packet>(c + j);
      for (int g = 0; g < g_n; ++g) acc = ei::pmadd(ei::pset1<Packet>(x[g]), ei::ploadu<Packet>(b + g * ldb + j), acc);
      ei::pstoreu(c + j, acc);
    }
  }
  return j;
}

// The same for a narrow c (at most kNarrowBytes of a row: 128 float32 units), whose few columns give strips
// too few independent chains to keep the FMA units busy: each value is summed in registers over the whole depth.
// The columns go in panels of up to kPanelPackets packets, each value as `chains` interleaved chains over b's
// rows, added at the end, so that a panel keeps up to half the registers as accumulators (FMA latency x
// throughput needs about 8); a panel of fewer packets runs more chains. Columns past the last whole packet are
// one more packet of the last panel, ending at c's last column and so overlapping its neighbour, whose lanes it
// computes alike (same chains, same order): they are read with the rest of each row of b, where a pass of their
// own read b's rows again (784 x 100 took 3.0 us, 784 x 96 1.8 us). Which columns take which panel depends only
// on n, so this too is one fixed order per value.
constexpr long kNarrowBytes = 512;
// With AVX2's 16 registers a panel of one chain per value may hold 14 packets (x's broadcast and a load in the
// other two): 784 x 100 is then one panel, whose pass reads each line of b once, not two panels' passes that
// both read the line where they meet (one row from C 1.26x faster). SSE2's panels stay at 8: its 784 x 64 ran
// 1.6x slower in that build, with more instances of the panels.
#if defined(EIGEN_VECTORIZE_AVX) && !defined(EIGEN_VECTORIZE_AVX512)
constexpr int kPanelPackets = 14;
#else
constexpr int kPanelPackets = 8;
#endif
constexpr int kAccumulators = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS / 2;

template <class T>
constexpr long narrow_columns() {
  return kNarrowBytes / long(sizeof(T));
}

constexpr int narrow_chains(int packets) {
  int chains = 1;
  while (chains < 8 && 2 * chains * packets <= kAccumulators) chains *= 2;
  return chains;
}

// N packets of columns from c's column 0: packet p at p * P, the last at `last` (at most (N - 1) * P) where
// Overlap (a compile-time offset otherwise: an indexed load in the loop made 784 x 64 1.15x slower on AVX2).
// A function of its own: inlined into few_rows_product, GCC kept the sums of the C runtime's AVX2 build on the
// stack, not in registers (one W2 row from C 1.7x slower).
template <class Packet, int N, bool Overlap, class T>
EIGEN_DONT_INLINE void narrow_panel(const T* x, const T* b, long ldb, T* c, long k, long last, bool accumulate) {
  namespace ei = Eigen::internal;
  constexpr long P = ei::unpacket_traits<Packet>::size;
  constexpr int C = narrow_chains(N);
  auto at = [last](int p) { return p + 1 < N || !Overlap ? p * P : last; };
  Packet acc[C][N];
  for (int h = 0; h < C; ++h)
    for (int p = 0; p < N; ++p) acc[h][p] = ei::pset1<Packet>(T(0));
  auto add_row = [&](int h, long row) {  // row `row` of b into chain h
    const Packet xh = ei::pset1<Packet>(x[row]);
    const T* bh = b + row * ldb;
    for (int p = 0; p < N; ++p) acc[h][p] = ei::pmadd(xh, ei::ploadu<Packet>(bh + at(p)), acc[h][p]);
  };
  long kk = 0;
  for (; kk + C <= k; kk += C)
    for (int h = 0; h < C; ++h) add_row(h, kk + h);
  for (int h = 0; h + 1 < C; ++h)  // the last k % C rows continue the first chains (fixed indices: registers)
    if (kk + h < k) add_row(h, kk + h);
  for (int w = 1; w < C; w *= 2)
    for (int h = 0; h + w < C; h += 2 * w)
      for (int p = 0; p < N; ++p) acc[h][p] = ei::padd(acc[h][p], acc[h + w][p]);
  if (accumulate)  // every packet's old values read before any is stored: the last may overlap its neighbour
    for (int p = 0; p < N; ++p) acc[0][p] = ei::padd(ei::ploadu<Packet>(c + at(p)), acc[0][p]);
  for (int p = 0; p < N; ++p) ei::pstoreu(c + at(p), acc[0][p]);
}

// One panel of `packets` (1 to N) packets at column j: panel(PacketOf<Packet>, N, Overlap, j, last) with N and
// Overlap as compile-time constants.
template <class P>
struct PacketOf {
  using type = P;
};

template <class Packet, int N, class Panel>
void narrow_partial_panel(long packets, long j, long last, Panel& panel) {
  if constexpr (N > 1)
    if (packets < N) return narrow_partial_panel<Packet, N - 1>(packets, j, last, panel);
  constexpr long P = Eigen::internal::unpacket_traits<Packet>::size;
  const std::integral_constant<int, N> packets_n;
  if (last == (N - 1) * P) return panel(PacketOf<Packet>(), packets_n, std::false_type(), j, last);
  panel(PacketOf<Packet>(), packets_n, std::true_type(), j, last);
}

// All n columns (at least one Packet's worth) in panels of at most Most packets, as even in size as that allows.
template <class Packet, int Most, class Panel>
void narrow_panels_of(long n, Panel& panel) {
  constexpr long P = Eigen::internal::unpacket_traits<Packet>::size;
  const long packets = (n + P - 1) / P, panels = (packets + Most - 1) / Most;
  long first = 0;  // the panel's first packet
  for (long i = 1; i <= panels; ++i) {
    const long end = packets * i / panels, j = first * P;
    const long last = i < panels ? (end - first - 1) * P : n - P - j;
    narrow_partial_panel<Packet, Most>(end - first, j, last, panel);
    first = end;
  }
}

// The n columns of a narrow c in panels of the widest packets that fit (at most Most of them, or below a whole
// packet at most two of the smaller ones); false for fewer columns than a quarter packet, which take none.
template <class T, int Most, class Panel>
bool narrow_panels(long n, Panel&& panel) {
  namespace ei = Eigen::internal;
  using Packet = typename ei::packet_traits<T>::type;
  using Half = typename ei::unpacket_traits<Packet>::half;
  using Quarter = typename ei::unpacket_traits<Half>::half;
  if (n >= ei::unpacket_traits<Packet>::size)
    narrow_panels_of<Packet, Most>(n, panel);
  else if (n >= ei::unpacket_traits<Half>::size)
    narrow_panels_of<Half, 2>(n, panel);
  else if (n >= ei::unpacket_traits<Quarter>::size)
    narrow_panels_of<Quarter, 2>(n, panel);
  else
    return false;
  return true;
}

template <class T>
void narrow_row(const T* x, const T* b, long ldb, T* c, long k, long n, bool accumulate) {
  namespace ei = Eigen::internal;
  auto panel = [&](auto packet, auto packets, auto overlap, long j, long last) {
    using Packet = typename decltype(packet)::type;
    constexpr int N = decltype(packets)::value;
    narrow_panel<Packet, N, decltype(overlap)::value>(x, b + j, ldb, c + j, k, last, accumulate);
  };
  if (narrow_panels<T, kPanelPackets>(n, panel)) return;
  for (long j = 0; j < n; ++j) {
    T even = 0, odd = 0;
    long kk = 0;
    for (; kk + 2 <= k; kk += 2) {
      even = ei::pmadd(x[kk], b[kk * ldb + j], even);
      odd = ei::pmadd(x[kk + 1], b[(kk + 1) * ldb + j], odd);
    }
    if (kk < k) even = ei::pmadd(x[kk], b[kk * ldb + j], even);
    c[j] = accumulate ? c[j] + (even + odd) : even + odd;
  }
}

// The same for R rows of a at once, Q packets of columns at a time, their R x Q sums in registers: each
// load of b feeds R multiply-adds, and the R x Q chains are independent (one row at a time, each packet's
// chain of g_n multiply-adds waits on the FMA latency: 4 and 8 rows through a 2 MB layer were 1.28x slower).
// Each value's sum is the same chain, in k's order, as few_rows_columns's.
template <class Packet, int R, int Q, class T>
long few_rows_tile(const T* x, long lda, int g_n, const T* b, long ldb, T* c, long ldc, long from, long to) {
  namespace ei = Eigen::internal;
  constexpr long P = ei::unpacket_traits<Packet>::size;
  long j = from;
  for (; j + Q * P <= to; j += Q * P) {
    Packet acc[R][Q];
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < Q; ++q) acc[r][q] = ei::ploadu<Packet>(c + r * ldc + j + q * P);
    for (int g = 0; g < g_n; ++g) {
      Packet bg[Q];
      for (int q = 0; q < Q; ++q) bg[q] = ei::ploadu<Packet>(b + g * ldb + j + q * P);
      for (int r = 0; r < R; ++r) {
        const Packet xr = ei::pset1<Packet>(x[r * lda + g]);
        for (int q = 0; q < Q; ++q) acc[r][q] = ei::pmadd(xr, bg[q], acc[r][q]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < Q; ++q) ei::pstoreu(c + r * ldc + j + q * P, acc[r][q]);
  }
  return j;
}

// One sweep of g_n rows of b over a strip of `width` columns, for R rows of a and c.
template <int R, class T>
void few_rows_sweep(const T* x, long lda, int g_n, const T* b, long ldb, T* c, long ldc, long width) {
  namespace ei = Eigen::internal;
  using Packet = typename ei::packet_traits<T>::type;
  using Half = typename ei::unpacket_traits<Packet>::half;  // narrow layers (10 outputs) in smaller packets
  using Quarter = typename ei::unpacket_traits<Half>::half;
  long j;
  if constexpr (R == 1) {  // (its broadcasts hoisted: 1.06x a 1 x 8 tile's speed through 512 x 512 on AVX2)
    j = few_rows_columns<Packet>(x, g_n, b, ldb, c, 0, width);
  } else {
    constexpr int Q = R == 2 ? 4 : 2;  // 8 accumulators
    j = few_rows_tile<Packet, R, Q>(x, lda, g_n, b, ldb, c, ldc, 0, width);
    j = few_rows_tile<Packet, R, 1>(x, lda, g_n, b, ldb, c, ldc, j, width);
  }
  j = few_rows_tile<Half, R, 1>(x, lda, g_n, b, ldb, c, ldc, j, width);
  j = few_rows_tile<Quarter, R, 1>(x, lda, g_n, b, ldb, c, ldc, j, width);
  for (int r = 0; r < R; ++r)
    for (long jj = j; jj < width; ++jj) {
      T acc = c[r * ldc + jj];
      for (int g = 0; g < g_n; ++g) acc = ei::pmadd(x[r * lda + g], b[g * ldb + jj], acc);
      c[r * ldc + jj] = acc;
    }
}

template <class T>
void few_rows_strip(const T* a, long lda, const T* b, long ldb, T* c, long ldc, long m, long k, long width,
                    bool accumulate) {
  constexpr long G = 8;  // rows of b per sweep over the strip: chains of 8 multiply-adds between loads and stores
  if (!accumulate)
    for (long r = 0; r < m; ++r) std::fill(c + r * ldc, c + r * ldc + width, T(0));
  for (long kk = 0; kk < k; kk += G) {
    const int g_n = int(std::min(G, k - kk));
    const T* bk = b + kk * ldb;
    long r = 0;
    for (; r + 4 <= m; r += 4) few_rows_sweep<4>(a + r * lda + kk, lda, g_n, bk, ldb, c + r * ldc, ldc, width);
    for (; r + 2 <= m; r += 2) few_rows_sweep<2>(a + r * lda + kk, lda, g_n, bk, ldb, c + r * ldc, ldc, width);
    if (r < m) few_rows_sweep<1>(a + r * lda + kk, lda, g_n, bk, ldb, c + r * ldc, ldc, width);
  }
}

// Few-row products of over kFewRowsParallel multiply-adds (b of 4 MB in float32 and up: read from memory,
// not cache) share their strips between threads: one core alone cannot use the memory's bandwidth.
constexpr double kFewRowsParallel = double(1 << 20);

// Whether a * b (not transposed) takes few_rows_product. (m = 0: an empty block of a split batch.)
template <class T>
bool few_rows_product_fits(long m, long n, long k) {
  if (m < 1 || n <= 1) return false;
  const bool large = n > narrow_columns<T>() && double(n) * double(k) >= kLargeOperand;
  return m <= kFewRows || (large && m <= kFewRowsLarge);
}

template <class T>
void few_rows_product(const T* a, const T* b, T* c, long m, long n, long k, bool accumulate) {
  if (n <= narrow_columns<T>()) {
    for (long r = 0; r < m; ++r) narrow_row(a + r * k, b, n, c + r * n, k, n, accumulate);
    return;
  }
  int threads = 1;
#ifdef _OPENMP
  if (double(m) * double(n) * double(k) >= kFewRowsParallel && !omp_in_parallel()) threads = omp_get_max_threads();
#endif
  // Strips of whole packets: at most kStripValues partial sums, and one per thread when threads share them: the
  // longer each strip's runs of b's rows, the better the hardware prefetcher streams them (one strip per thread
  // predicted one row of a 1024x2048 layer 1.8x faster than four, and no slower with the other core busy).
  const long strip = (std::min(std::max(1L, kStripValues / m), (n + threads - 1) / threads) + 15) / 16 * 16;
  const long strips = (n + strip - 1) / strip;
  auto run = [&](long s) {
    const long j = s * strip;
    few_rows_strip(a, k, b + j, n, c + j, n, m, k, std::min(strip, n - j), accumulate);
  };
  if (threads <= 1 || strips <= 1) {
    for (long s = 0; s < strips; ++s) run(s);
    return;
  }
#pragma omp parallel for num_threads(int(std::min<long>(threads, strips))) schedule(dynamic)
  for (long s = 0; s < strips; ++s) {
    FlushDenormals flush;
    run(s);
  }
}

// c (m x n) (+)= a (m x k, or its transpose) * b (k x n, row-major) for a narrow c (at most narrow_columns)
// whose b stays in cache (kLargeOperand), from more rows than few_rows_product takes: a batch through a layer
// of up to 128 float32 outputs, forward and (a transposed) the kernel's gradient. Tiles of up to kMaxTileRows rows
// x up to kTilePackets packets keep their sums in registers over the whole depth, each load of b feeding every
// row of the tile and each broadcast of a's value every packet; neither operand is packed. Eigen's GEMM packs
// both (a 10k-row batch read twice and written once) and runs a 64-wide c as 48 + 16 rows of its kernel:
// 1667 x 784 x 64 ran at 208-233 GFLOP/s on one AVX-512 core against Eigen's 158-163, 117-121 against 98-102
// on AVX2. Every value is one chain of multiply-adds in k's order, whatever its tile, so the numbers depend on
// neither the row blocks threads take nor the panels nor the tiles; columns past the last whole packet are one
// more packet of the last panel, overlapping its neighbour, as in narrow_panels.
// A tile's sums take three quarters of the registers (12 of 16, 24 of 32), b's packets and a's broadcast the
// rest. A panel has up to kTilePackets packets, so that its tiles have 4 rows or more (each load of b feeds 4
// multiply-adds), and a tile of fewer packets more rows, up to 8: two FMA units with a latency of 4 cycles
// need 8 independent chains.
constexpr int kTileSums = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS * 3 / 4;
constexpr int kTilePackets = kTileSums / 4;
constexpr int kMaxTileRows = 8;

constexpr int tile_rows(int packets) { return std::min(kMaxTileRows, kTileSums / packets); }

template <class T>
bool narrow_rows_product_fits(long n, long k) {
  using Quarter = typename Eigen::internal::unpacket_traits<
      typename Eigen::internal::unpacket_traits<typename Eigen::internal::packet_traits<T>::type>::half>::half;
  return n >= Eigen::internal::unpacket_traits<Quarter>::size && n <= narrow_columns<T>() &&
         double(n) * double(k) <= kLargeOperand;
}

// R rows of a (a(r, kk) at a[r * lda + kk], or a[kk * lda + r] when TransA) times N packets of b's columns from
// column 0, the last at `last` where Overlap.
template <class Packet, int R, int N, bool Overlap, bool TransA, class T>
void narrow_tile(const T* a, long lda, const T* b, long ldb, T* c, long ldc, long k, long last, bool accumulate) {
  namespace ei = Eigen::internal;
  constexpr long P = ei::unpacket_traits<Packet>::size;
  auto at = [last](int p) { return p + 1 < N || !Overlap ? p * P : last; };
  Packet acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < N; ++p) acc[r][p] = ei::pset1<Packet>(T(0));
  for (long kk = 0; kk < k; ++kk) {
    const T* bk = b + kk * ldb;
    Packet bp[N];
    for (int p = 0; p < N; ++p) bp[p] = ei::ploadu<Packet>(bk + at(p));
    for (int r = 0; r < R; ++r) {
      const Packet x = ei::pset1<Packet>(TransA ? a[kk * lda + r] : a[r * lda + kk]);
      for (int p = 0; p < N; ++p) acc[r][p] = ei::pmadd(x, bp[p], acc[r][p]);
    }
  }
  if (accumulate)  // every old value read before any is stored: the last packet may overlap its neighbour
    for (int r = 0; r < R; ++r)
      for (int p = 0; p < N; ++p) acc[r][p] = ei::padd(ei::ploadu<Packet>(c + r * ldc + at(p)), acc[r][p]);
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < N; ++p) ei::pstoreu(c + r * ldc + at(p), acc[r][p]);
}

// A tile of `rows` rows, 1 to R (a run-time count to a compile-time tile).
template <class Packet, int N, bool Overlap, bool TransA, int R, class T>
void narrow_tile_of(long rows, const T* a, long lda, const T* b, long ldb, T* c, long ldc, long k, long last,
                    bool accumulate) {
  if constexpr (R > 1)
    if (rows < R)
      return narrow_tile_of<Packet, N, Overlap, TransA, R - 1>(rows, a, lda, b, ldb, c, ldc, k, last, accumulate);
  narrow_tile<Packet, R, N, Overlap, TransA>(a, lda, b, ldb, c, ldc, k, last, accumulate);
}

// All m rows through one panel of N packets, in tiles of as even heights as tile_rows(N) allows: full tiles and
// a short rest left the rest's few chains waiting on the FMA latency (16 rows of a 20-wide c on AVX2 were
// 6 + 6 + 3 + 1 rows of a 1-packet and of a 2-packet panel, now 4 x 4 rows of one 3-packet panel).
template <class Packet, int N, bool Overlap, bool TransA, class T>
void narrow_tile_rows(const T* a, long lda, const T* b, long ldb, T* c, long ldc, long m, long k, long last,
                      bool accumulate) {
  constexpr int R = tile_rows(N);
  const long tiles = (m + R - 1) / R;
  for (long t = 0, r = 0; t < tiles; ++t) {
    const long end = m * (t + 1) / tiles;
    narrow_tile_of<Packet, N, Overlap, TransA, R>(end - r, TransA ? a + r : a + r * lda, lda, b, ldb, c + r * ldc,
                                                  ldc, k, last, accumulate);
    r = end;
  }
}

// Rows in blocks of about kRowBlockBytes of a, every panel through one block before the next: a pass of each
// panel over all rows read a from memory once per panel (on AVX2 a 64-wide c is four panels).
constexpr long kRowBlockBytes = 1L << 18;

template <class T>
void narrow_rows_product(const Destination<T>& c, const Operand<T>& a, const T* b, long ldb, bool accumulate) {
  const long k = a.cols;
  const long block =
      std::max(1L, kRowBlockBytes / long(sizeof(T)) / std::max(k, 1L) / kMaxTileRows) * kMaxTileRows;
  for (long start = 0; start < c.rows; start += block) {
    const Destination<T> rows_c = c.middle_rows(start, std::min(block, c.rows - start));
    const Operand<T> rows_a = a.middle_rows(start, rows_c.rows);
    narrow_panels<T, kTilePackets>(c.cols, [&](auto packet, auto packets, auto overlap, long j, long last) {
      using Packet = typename decltype(packet)::type;
      constexpr int N = decltype(packets)::value;
      constexpr bool Overlap = decltype(overlap)::value;
      if (a.transposed)
        narrow_tile_rows<Packet, N, Overlap, true>(rows_a.data, a.stride, b + j, ldb, rows_c.data + j, c.stride,
                                                    rows_c.rows, k, last, accumulate);
      else
        narrow_tile_rows<Packet, N, Overlap, false>(rows_a.data, a.stride, b + j, ldb, rows_c.data + j, c.stride,
                                                     rows_c.rows, k, last, accumulate);
    });
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
template <class T>
void product(const Operand<T>& a, const Operand<T>& b, const Destination<T>& c, bool accumulate) {
  const long m = c.rows, n = c.cols, k = a.cols;
  const double work = double(m) * double(n) * double(k);
  if (work <= kInterruptibleWork) {
    threaded_product(a, b, c, accumulate);
    return;
  }
  const long parts = long(std::ceil(work / kInterruptibleWork));
  if (m >= n && m >= k)
    in_blocks(m, parts, [&](long start, long size) {
      threaded_product(a.middle_rows(start, size), b, c.middle_rows(start, size), accumulate);
    });
  else if (n >= k)
    in_blocks(n, parts, [&](long start, long size) {
      threaded_product(a, b.middle_cols(start, size), c.middle_cols(start, size), accumulate);
    });
  else
    in_blocks(k, parts, [&](long start, long size) {
      threaded_product(a.middle_cols(start, size), b.middle_rows(start, size), c, accumulate || start > 0);
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
    if (!trans_a && !trans_b && few_rows_product_fits<T>(m, n, k)) {
      few_rows_product(a, b, c, m, n, k, accumulate);
      return;
    }
    // a is m x k (stored k x m when transposed), b is k x n (stored n x k when transposed).
    const Operand<T> A{a, m, k, trans_a ? m : k, trans_a}, B{b, k, n, trans_b ? k : n, trans_b};
    product(A, B, Destination<T>{c, m, n, n}, accumulate);
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

  // NaN and infinity are the values whose exponent bits are all ones. Compared as integers, without an early
  // exit, so the loop vectorises (784 floats: 42 ns against 300 ns for a std::isfinite loop).
  bool all_finite(const T* x, std::size_t n) override {
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    constexpr Bits exponent = sizeof(T) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
    Bits bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
      Bits bits;
      std::memcpy(&bits, x + i, sizeof(T));
      bad |= Bits((bits & exponent) == exponent);
    }
    return bad == 0;
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
    if (!batch_statistics) {  // y = g * (x - moving mean) / moving std + b: dx = g/std * dy, no sums needed
      if (!dx) return;  // (frozen: no gamma or beta gradients either)
      for (long r = 0; r < rows; ++r)
        for (long j = 0; j < dim; ++j) {
          const long i = r * dim + j;
          const double g = bn.gamma ? double(bn.gamma[j]) : 1.0;
          dx[i] = T(g * double(inv_std[j]) * double(grad[i]));
        }
      return;
    }
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
