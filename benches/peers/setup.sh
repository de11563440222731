#!/usr/bin/env bash
# Creates benches/peers/.venv (git-ignored) and installs the peers' pinned requirements.
# Idempotent: does nothing when the venv already holds exactly these requirements.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
reqs="$here/fastapi/requirements.txt"
python="${PYTHON:-python3}"

# The stamp records which requirements the venv was built from.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$reqs" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup.sh: $venv is up to date"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs"
echo "$want" > "$stamp"
echo "setup.sh: installed $(basename "$reqs") into $venv"
"$venv/bin/python" -m pip list --disable-pip-version-check --format=freeze \
    | grep -iE '^(fastapi|uvicorn|tantivy|starlette|pydantic|uvloop|httptools)=' || true
