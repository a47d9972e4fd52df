#!/usr/bin/env bash
# Create the example's virtualenv and install its pinned requirements.
# Usage: ./setup.sh [VENV_DIR]   (default: .venv beside this script)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/.venv}"
python="${PYTHON:-python3}"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
echo "ready: $venv/bin/python ($("$venv/bin/python" --version))"
