#!/usr/bin/env bash
# The Python binding: `pip install ./python` into a fresh venv (which sees the project venv's
# numpy and pytest through a .pth file: no network), then its pytest tests and the example
# script against the build's libqat.so. Skips cleanly (exit 0, SKIP) when numpy/pytest are
# missing.
set -euo pipefail
src=$1 build=$2
work=$(mktemp -d "$build/python_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
base=$src/.venv/bin/python
[ -x "$base" ] || base=python3
site=$("$base" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if ! "$base" -m venv --without-pip "$work/venv" 2>/dev/null; then
  echo "SKIP: cannot create a venv with $base"; exit 0
fi
echo "$site" > "$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/project_venv.pth"
if ! "$work/venv/bin/python" -c 'import numpy, pytest, setuptools, wheel' 2>/dev/null; then
  echo "SKIP: numpy and pytest are not installed in $src/.venv (scripts/setup.sh installs them)"; exit 0
fi
"$base" -m pip --python "$work/venv/bin/python" install -q --no-build-isolation --no-deps --disable-pip-version-check "$src/python" \
  > "$work/pip.log" 2>&1 || { cat "$work/pip.log"; echo "FAIL: pip install ./python"; exit 1; }
cd "$work"   # import the installed package, not the source tree
export QAT_LIBRARY=$build/lib/libqat.so
if [ -n "${QAT_SAN_CFLAGS:-}" ]; then
  # a sanitized libqat inside CPython: the ASan runtime must be loaded first
  export LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
fi
"$work/venv/bin/python" -c 'import qat; print("qat", qat.version(), "from", qat.__file__); assert "site-packages" in qat.__file__'
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$src/python/tests"
"$work/venv/bin/python" "$src/examples/qat_numpy.py" --out "$work/example" > "$work/example.log"
cat "$work/example.log"
grep -q "^parity:" "$work/example.log"
