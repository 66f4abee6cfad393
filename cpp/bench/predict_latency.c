// One-row latency of the C ABI (median of 15 timings of n calls), and the time to read `floats` values from
// a buffer of that size that stays in cache: the memory floor of a one-row predict whose weights are that big.
// Built once per instruction set (CMakeLists.txt: predict_latency_x86-64-v3 with AVX2 loads,
// predict_latency_x86-64-v4 with AVX-512 ones) and run by `densenn bench` (densenn/benchmark/programs.py):
//   predict_latency_x86-64-v3 MODEL.dnn CALLS FLOATS   prints "predict-us floor-us sink"
#include <densenn/c_api.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int by_value(const void* a, const void* b) { double d = *(const double*)a - *(const double*)b; return (d > 0) - (d < 0); }
static double median15(double* t) { qsort(t, 15, sizeof(double), by_value); return t[7]; }
int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s MODEL.dnn CALLS FLOATS\n", argv[0]);
    return 2;
  }
  long n = atol(argv[2]), floats = atol(argv[3]);
  double t[15];
  dn_model* m = dn_model_load(argv[1]);
  if (!m) { fprintf(stderr, "%s\n", dn_last_error()); return 1; }
  int in = dn_model_input_size(m), out = dn_model_output_size(m);
  float* x = malloc(sizeof(float) * in);
  float* y = malloc(sizeof(float) * out);
  for (int i = 0; i < in; ++i) x[i] = (float)(i % 255) / 255.0f;
  for (long i = 0; i < n; ++i) dn_model_predict(m, x, 1, y);  /* warm-up */
  for (int r = 0; r < 15; ++r) {
    double start = now();
    for (long i = 0; i < n; ++i) dn_model_predict(m, x, 1, y);
    t[r] = (now() - start) / n;
  }
  double predict_us = median15(t) * 1e6;
  dn_model_free(m);
  /* 8 independent sums of 16-float (AVX-512) or 8-float (AVX2) loads */
#ifdef __AVX512F__
  enum { W = 16 };
  typedef __m512 vec;
#define LOAD _mm512_load_ps
#define ADD _mm512_add_ps
#define ZERO _mm512_setzero_ps
#else
  enum { W = 8 };
  typedef __m256 vec;
#define LOAD _mm256_load_ps
#define ADD _mm256_add_ps
#define ZERO _mm256_setzero_ps
#endif
  long len = (floats + 8 * W - 1) / (8 * W) * (8 * W);
  float* a = aligned_alloc(64, sizeof(float) * len);
  for (long i = 0; i < len; ++i) a[i] = 1e-3f * (float)(i % 7);
  vec s[8];
  for (int k = 0; k < 8; ++k) s[k] = ZERO();
  for (int r = 0; r < 15; ++r) {
    double start = now();
    for (long it = 0; it < n; ++it)
      for (long i = 0; i < len; i += 8 * W)
        for (int k = 0; k < 8; ++k) s[k] = ADD(s[k], LOAD(a + i + k * W));
    t[r] = (now() - start) / n;
  }
  float sink[W];
  memcpy(sink, &s[0], sizeof sink);
  for (int k = 1; k < 8; ++k) { float o[W]; memcpy(o, &s[k], sizeof o); for (int j = 0; j < W; ++j) sink[j] += o[j]; }
  printf("%.3f %.3f %g\n", predict_us, median15(t) * 1e6, (double)sink[0]);
  return 0;
}
