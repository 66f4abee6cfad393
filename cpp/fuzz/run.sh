#!/usr/bin/env bash
# A libFuzzer campaign over densenn's model-file reader and embedded runtime (docs/reliability.md,
# "Fuzzing model files"). Needs clang with its runtime and OpenMP (Debian: apt-get install clang
# libclang-rt-dev libomp-dev) and a Python environment with densenn installed plus the build
# requirements (pybind11, cmeel-eigen, ninja, cmake), used for the seed files and to find Eigen.
#
#   cpp/fuzz/run.sh [SECONDS [libFuzzer flags...]]      default: 600 s; e.g. cpp/fuzz/run.sh 28800 -jobs=2
#
# The corpus grows in build/fuzz/corpus (keep it between campaigns); findings land in build/fuzz/findings/
# (reproduce one: build/fuzz/model_file_fuzzer build/fuzz/findings/crash-...).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
shift || true
python=${PYTHON:-python3}
cxx=${CXX:-$(command -v clang++ || command -v clang++-16 || command -v clang++-14 || true)}
[ -n "$cxx" ] || { echo "run.sh: no clang++ found (apt-get install clang libclang-rt-dev libomp-dev)" >&2; exit 1; }
build=build/fuzz
mkdir -p "$build/corpus" "$build/findings"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  -DDENSENN_FUZZ=ON -DDENSENN_BASELINE_ONLY=ON -DPython_EXECUTABLE="$(command -v "$python")" \
  -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" > "$build/configure.log"
cmake --build "$build" --target model_file_fuzzer
"$python" tests/test_fuzz_model_files.py seeds "$build/seeds" > /dev/null
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
OMP_NUM_THREADS=1 "$build/model_file_fuzzer" "$build/corpus" "$build/seeds" -dict=cpp/fuzz/model_file.dict \
  -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=1024 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$build/findings/" -print_final_stats=1 "$@"
