// densenn's one threading policy: how many OpenMP threads a piece of work gets.
// Eigen's own threading is off (EIGEN_DONT_PARALLELIZE): it split products 50x
// smaller, and a team that must wait for a thread descheduled by another
// process costs far more than the product itself.
#pragma once

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace densenn {

// Below this many multiply-adds (~32M; ~0.3 ms on one core) work runs on the
// calling thread: starting and joining a team costs more than it saves.
constexpr double kParallelWork = double(1 << 25);

// Threads for `work` multiply-adds (or comparable element operations): all of
// OpenMP's when it is large enough, else 1; 1 inside a parallel region too.
inline int threads_for(double work) {
#ifdef _OPENMP
  if (work >= kParallelWork && !omp_in_parallel()) return omp_get_max_threads();
#endif
  (void)work;
  return 1;
}

// A training step of a small network (no product reaching kParallelWork) runs
// its batch as blocks of rows, one per thread (Sequential's shards): one team
// per step instead of one per product. Measured on 2 quiet cores (Zen 4): W1
// (784-100-50-10, 128 rows, 32M multiply-adds a step) 1.44x; 784-64-64-10 at 32
// rows (5M) 1.15-1.3x, W1's network at 32 rows (8M) 1.25x; 713-20-10-1 at 16
// rows (0.7M, one block of 16 rows) no gain. With the second core busy with
// another process a split step waits for it (0.6x): set OMP_NUM_THREADS=1.
constexpr double kShardWork = double(1 << 22);
constexpr long kMinShardRows = 16;

inline int shards_for(long rows, double work) {
#ifdef _OPENMP
  if (work >= kShardWork && !omp_in_parallel())
    return int(std::max(1L, std::min<long>(omp_get_max_threads(), rows / kMinShardRows)));
#endif
  (void)rows;
  (void)work;
  return 1;
}

// A training step of at most kMaxInputSplitRows rows whose first layer holds most of the parameters (4/5 or
// more) splits that layer's inputs between threads instead (Sequential's input-split pass), each part at least
// kMinPartInputs inputs, when the layer's multiply-adds reach kInputSplitWork (the team's start and two
// barriers cost ~2 us). Measured on 2 cores (Zen 4), against the split by rows or one thread: 713-20-10-1 at
// 16 rows 1.43x, 784-64-64-10 at 32 rows 1.28x and at 64 1.05x, 784-100-50-10 at 32 rows 1.26x, at 64 1.07x
// and at 128 0.95x (there the rows' split keeps its threads busier than one thread's rest of the step).
constexpr long kMaxInputSplitRows = 64;
constexpr long kMinPartInputs = 64;
constexpr double kInputSplitWork = double(1 << 18);

inline int input_parts_for(long inputs, long rows, double first_params, double other_params) {
#ifdef _OPENMP
  if (rows <= kMaxInputSplitRows && first_params >= 4 * other_params &&
      2.0 * double(rows) * first_params >= kInputSplitWork && !omp_in_parallel())
    return int(std::max(1L, std::min<long>(omp_get_max_threads(), inputs / kMinPartInputs)));
#endif
  (void)inputs;
  (void)rows;
  (void)first_params;
  (void)other_params;
  return 1;
}

// The calling thread's place in its OpenMP team, and the team's size (0 and 1 outside one).
inline int team_member() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace densenn
