// Which x86-64 instruction-set level this CPU (and OS) runs: the one place
// both the Python package (picking its module) and libdensenn (picking its
// runtime) ask.
#pragma once

#include <string>

namespace densenn {

// isa: "x86-64" (baseline), "x86-64-v3" (AVX2, FMA, ...) or "x86-64-v4" (AVX-512 F/BW/CD/DQ/VL).
inline bool cpu_supports(const std::string& isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                  __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("movbe");
  if (isa == "x86-64-v3") return v3;
  if (isa == "x86-64-v4")
    return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
  return isa == "x86-64";
#else
  (void)isa;
  return false;
#endif
}

}  // namespace densenn
