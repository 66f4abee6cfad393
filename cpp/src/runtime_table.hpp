// The embedded runtime (model.hpp, c_api.h) built once per instruction set:
// the portable libdensenn.so, and libdensenn_x86_64_v3.so / _v4.so beside it,
// each exporting only densenn_runtime_table(). libdensenn loads the fastest one
// this CPU runs (DENSENN_ISA=baseline, x86-64-v3 or x86-64-v4 forces a choice)
// and forwards Model and the C ABI to it; a C or C++ program links libdensenn
// alone and runs on any x86-64 CPU.
#pragma once

#include "densenn/c_api.h"

namespace densenn {

struct RuntimeTable {
  int version;      // kRuntimeTableVersion of the build that made it
  const char* isa;  // "x86-64-v4", ...
  dn_model* (*load)(const char* path);
  const char* (*last_error)(void);
  int (*input_size)(const dn_model*);
  int (*output_size)(const dn_model*);
  int (*is_float64)(const dn_model*);
  int (*predict)(const dn_model*, const float* x, long rows, float* y);  // 0 on success
  void (*free)(dn_model*);
};

constexpr int kRuntimeTableVersion = 1;

// This build's own functions.
const RuntimeTable& runtime_table();
// In the portable libdensenn: the fastest other build this CPU runs, loaded once; null when there is none.
const RuntimeTable* faster_runtime();

}  // namespace densenn
