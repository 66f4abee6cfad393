// densenn's one threading policy: how many OpenMP threads a piece of work gets.
// Eigen's own threading is off (EIGEN_DONT_PARALLELIZE): it split products 50x
// smaller, and a team that must wait for a thread descheduled by another
// process costs far more than the product itself.
#pragma once

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

}  // namespace densenn
