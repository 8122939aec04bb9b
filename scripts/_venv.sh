# Sourced by the scripts: makes sure .venv exists and matches the requirements files, fast when it does.
# Usage: . "$(dirname "$0")/_venv.sh"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"
stamp_want="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha256sum | cut -c1-16)-$("$PYTHON_BIN" -c 'import sys;print("%d.%d"%sys.version_info[:2])')"
# One stamp per checkout: several worktrees may share one .venv (symlinked) with different requirements.
stamp_file="$VENV/.kyc-requirements-stamp-$(printf %s "$ROOT" | sha256sum | cut -c1-8)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_want" ]; then
  echo "Setting up $VENV (requirements changed or missing)..." >&2
  "$PYTHON_BIN" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt" 2>&1 \
    | grep -v "is neither a file nor a directory" >&2 || true
  "$VENV/bin/python" -m pip check >/dev/null 2>&1 || "$VENV/bin/python" -m pip check >&2 || true
  "$VENV/bin/python" -c "import orjson, jwt, pytest, hypothesis" \
    || { echo "error: installing requirements-dev.txt into $VENV failed" >&2; exit 1; }
  echo "$stamp_want" > "$stamp_file"
fi
export PATH="$VENV/bin:$PATH"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT"
