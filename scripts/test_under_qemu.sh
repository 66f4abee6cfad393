#!/usr/bin/env bash
# The whole test suite on an older CPU: this Python under QEMU's user-mode emulator with the CPU model given
# (Haswell: AVX2 and no AVX-512; Nehalem: SSE4.2 only), so densenn must choose the build that CPU runs. Roughly
# ten times slower than native. Child processes the tests start (python -c, mpiexec) run natively, and
# tests/test_other_cpus.py, which starts QEMU itself, is left out.
#   bash scripts/test_under_qemu.sh Haswell [pytest arguments, e.g. -q tests/test_api.py; none: the whole suite]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?"usage: $0 CPU_MODEL [pytest arguments] (e.g. Haswell, Nehalem)"}
shift
command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 not found (Debian: apt-get install qemu-user)" >&2; exit 2; }
python=$(python -c "import sys; print(sys.executable)")
# QEMU names each CPUID feature its emulator lacks once per start; those lines are noise here.
exec qemu-x86_64 -cpu "$model" "$python" -m pytest --ignore=tests/test_other_cpus.py -p no:cacheprovider "$@" \
  2> >(grep -v "TCG doesn't support requested feature" >&2)
