// FP32 peak: 12 independent FMA chains per thread, so the loop is bound by FMA throughput, not latency.
// Built once per instruction set (CMakeLists.txt: peak_flops_x86-64-v3 with AVX2 vectors, peak_flops_x86-64-v4
// with AVX-512 ones) and run by `densenn bench` (densenn/benchmark/programs.py):
//   OMP_NUM_THREADS=N peak_flops_x86-64-v3 [ITERATIONS]   prints "GFLOP/s vector-width sink"
#include <immintrin.h>
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#ifdef __AVX512F__
typedef __m512 vec; enum { W = 16 };
static inline vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline vec set1(float x) { return _mm512_set1_ps(x); }
static inline float first(vec a) { return _mm512_cvtss_f32(a); }
#else
typedef __m256 vec; enum { W = 8 };
static inline vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline vec set1(float x) { return _mm256_set1_ps(x); }
static inline float first(vec a) { return _mm256_cvtss_f32(a); }
#endif
enum { CHAINS = 12 };
int main(int argc, char** argv) {
  long iters = argc > 1 ? atol(argv[1]) : 100000000L;
  double best = 0; float sink = 0;
  for (int rep = 0; rep < 3; ++rep) {
    int threads = 1;
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel reduction(+:sink)
    {
#pragma omp single
      threads = omp_get_num_threads();
      vec acc[CHAINS], b = set1(0.9999f), c = set1(1e-4f);
      for (int k = 0; k < CHAINS; ++k) acc[k] = set1(float(k + omp_get_thread_num()));
      for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < CHAINS; ++k) acc[k] = fma(acc[k], b, c);
      }
      for (int k = 0; k < CHAINS; ++k) sink += first(acc[k]);
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double gflops = 2.0 * W * CHAINS * iters * threads / s / 1e9;
    if (gflops > best) best = gflops;
  }
  printf("%.2f %d %g\n", best, (int)W, sink);
  return 0;
}
