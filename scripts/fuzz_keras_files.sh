#!/usr/bin/env bash
# The Keras-file fuzz campaign at length: ITERATIONS mutants per seed (default 20000), seeds 1..SEEDS (default 5).
#   bash scripts/fuzz_keras_files.sh [ITERATIONS] [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
for seed in $(seq 1 "${2:-5}"); do
  DENSENN_FUZZ_ITERATIONS="${1:-20000}" DENSENN_FUZZ_SEED="$seed" python -m pytest -q -p no:cacheprovider \
    tests/test_fuzz_keras_files.py
done
