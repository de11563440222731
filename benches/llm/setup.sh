#!/usr/bin/env bash
# Creates benches/llm/.venv with llama-cpp-python (built from source) + psutil.
# Idempotent: does nothing if the venv already imports llama_cpp.
# Runnable from any cwd.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="$VENV/bin/python"
LLAMA_CPP_PYTHON_VERSION="0.3.36"

log() { echo "[setup] $*"; }

if [[ -x "$PY" ]] && "$PY" -c 'import llama_cpp, psutil' >/dev/null 2>&1; then
  log "venv at $VENV already imports llama_cpp $("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)'); nothing to do"
  exit 0
fi

if [[ ! -x "$PY" ]]; then
  log "creating venv at $VENV with $(command -v python3) ($(python3 --version 2>&1))"
  python3 -m venv "$VENV"
else
  log "reusing existing venv at $VENV"
fi

log "upgrading pip"
"$PY" -m pip install --quiet --upgrade pip

if ! command -v cmake >/dev/null 2>&1 && [[ ! -x "$VENV/bin/cmake" ]]; then
  log "cmake not found on PATH; installing cmake (and ninja) into the venv"
  "$PY" -m pip install --quiet cmake ninja
fi
# Make the venv's cmake/ninja visible to the source build.
export PATH="$VENV/bin:$PATH"

log "installing psutil"
"$PY" -m pip install --quiet psutil

# llama-cpp-python ships as an sdist: pip builds llama.cpp from source with the
# machine's gcc/cmake (about 9 minutes on 2 cores). Default CMake options are
# used (llama.cpp already builds for the native CPU by default).
JOBS="$(nproc 2>/dev/null || echo 2)"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$JOBS}"
log "building llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION from source (CMAKE_BUILD_PARALLEL_LEVEL=$CMAKE_BUILD_PARALLEL_LEVEL, CMAKE_ARGS='${CMAKE_ARGS:-}'); this takes several minutes"
start=$(date +%s)
"$PY" -m pip install --no-cache-dir --verbose "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" \
  > "$HERE/.venv/build.log" 2>&1 || {
    echo "[setup] llama-cpp-python build FAILED; last lines of $VENV/build.log:" >&2
    tail -n 40 "$VENV/build.log" >&2
    exit 1
  }
log "built and installed in $(( $(date +%s) - start ))s (full log: $VENV/build.log)"

"$PY" -c 'import llama_cpp, psutil; print("[setup] ok: llama_cpp", llama_cpp.__version__, "psutil", psutil.__version__)'
