#!/usr/bin/env bash
# densenn under AddressSanitizer + UndefinedBehaviorSanitizer (docs/reliability.md, "Sanitizers").
#
# Builds the package with -DDENSENN_SANITIZE=ON (baseline module only) into its own virtualenv and build
# folder, runs the tests that drive the C++ core with the sanitizer runtime preloaded into Python, then builds
# the C and C++ examples and tests/embed/c_api_checks.c with the sanitizers too and runs them on a saved model
# and a damaged one. Any sanitizer report stops the process and fails the script.
#
#   scripts/sanitize.sh                     everything (about 20 minutes on 2 cores, most of it the build)
#   scripts/sanitize.sh tests/test_saving.py -x      only these tests (pytest arguments)
#
# Needs gcc (or clang) with libasan/libubsan, cmake, and network access to PyPI for the virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${SANITIZE_VENV:-$root/build/sanitize-venv}
build=$root/build/sanitize
python=${PYTHON:-python3}
cc=${CC:-cc}
cxx=${CXX:-c++}
flags="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer -g"

echo "== building densenn with DENSENN_SANITIZE=ON into $venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q numpy h5py pytest scikit-build-core pybind11 cmeel-eigen ninja cmake
CC=$cc CXX=$cxx "$venv/bin/pip" install -q . --no-build-isolation -Cbuild-dir="$build" \
  -Ccmake.define.DENSENN_SANITIZE=ON -Ccmake.define.DENSENN_BASELINE_ONLY=ON

# Python itself is not instrumented: the sanitizer runtime must be loaded first, before the module.
asan=$("$cxx" -print-file-name=libasan.so)
ubsan=$("$cxx" -print-file-name=libubsan.so)
export LD_PRELOAD="$asan${ubsan:+ $ubsan}"
# CPython and NumPy keep memory until exit: leak reports would be theirs. halt_on_error: the first report fails.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export DENSENN_SANITIZED=1  # tests/test_fuzz_model_files.py: no RLIMIT_AS (ASan reserves terabytes of shadow)

echo "== tests under ASan + UBSan"
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(tests/test_gradients.py tests/test_layers.py tests/test_losses.py tests/test_optimizers.py
         tests/test_activations.py tests/test_metrics.py tests/test_saving.py tests/test_embedding.py
         tests/test_bad_inputs.py tests/test_fit_options.py tests/test_callbacks.py tests/test_vs_reference.py
         tests/test_api.py tests/test_model_checkpoint.py tests/test_course_examples.py
         tests/test_fuzz_model_files.py
         # the AVX2 module is not built here; allocation counting fights ASan's allocator
         --deselect "tests/test_api.py::test_repeated_predict_is_bit_identical[x86-64-v3]"
         --deselect tests/test_embedding.py::test_one_row_predict_allocates_nothing)
fi
(cd "$root" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "${tests[@]}")

echo "== sanitized C and C++ programs on libdensenn"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" - "$work" <<'EOF'
import sys
import numpy as np
from densenn import Input, Sequential, layers, utils
utils.set_random_seed(1)
model = Sequential([Input(shape=(5,)), layers.Dense(16, activation="relu"), layers.BatchNormalization(),
                    layers.Maxout(4, pieces=3), layers.Dense(3, activation="softmax")])
model.save(f"{sys.argv[1]}/m.dnn")
x = np.random.RandomState(0).randn(300, 5).astype("float32")
np.savetxt(f"{sys.argv[1]}/x.txt", x)
np.savetxt(f"{sys.argv[1]}/expected.txt", model.predict(x, verbose=0))
data = bytearray(open(f"{sys.argv[1]}/m.dnn", "rb").read())
data[len(data) // 2] ^= 0x10
open(f"{sys.argv[1]}/bad.dnn", "wb").write(bytes(data))
EOF
include=$("$venv/bin/python" -c "import densenn; print(densenn.get_include())")
libdir=$("$venv/bin/python" -c "import densenn, os; print(os.path.dirname(densenn.get_library()))")
cmakedir=$("$venv/bin/python" -c "import densenn; print(densenn.get_cmake_dir())")
unset LD_PRELOAD  # the programs below link the runtime themselves
"$venv/bin/cmake" -S cpp/examples -B "$work/cpp" -G Ninja -DCMAKE_MAKE_PROGRAM="$venv/bin/ninja" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$cmakedir" -DCMAKE_CXX_FLAGS="$flags" > /dev/null
"$venv/bin/cmake" --build "$work/cpp" > /dev/null
"$cc" -std=c99 $flags cpp/examples/predict.c -I"$include" -L"$libdir" -Wl,-rpath,"$libdir" -ldensenn -o "$work/predict_c"
"$cc" -std=c99 $flags tests/embed/c_api_checks.c -I"$include" -L"$libdir" -Wl,-rpath,"$libdir" -ldensenn -pthread \
  -o "$work/checks"
"$work/cpp/predict" "$work/m.dnn" "$work/x.txt" > "$work/cpp.txt"
"$work/predict_c" "$work/m.dnn" "$work/x.txt" > "$work/c.txt"
"$work/checks" "$work/m.dnn" "$work/bad.dnn" 8 200 < "$work/x.txt" | grep -qx OK
for program in cpp/predict predict_c; do
  if "$work/$program" "$work/bad.dnn" "$work/x.txt" 2> "$work/err.txt"; then
    echo "$program accepted a damaged file" >&2; exit 1
  fi
  grep -q checksum "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
done
"$venv/bin/python" - "$work" <<'EOF'
import sys
import numpy as np
expected = np.loadtxt(f"{sys.argv[1]}/expected.txt")
for name in ("cpp.txt", "c.txt"):
    np.testing.assert_allclose(np.loadtxt(f"{sys.argv[1]}/{name}"), expected, rtol=1e-5, atol=1e-6)
EOF
echo "== sanitize.sh: no sanitizer findings"
