#!/usr/bin/env bash
# Create the virtualenv the SDK test runs in (default: target/sdk-venv at the
# workspace root) with the pinned official Cloudinary SDK, and print the line
# that enables the test.
# Usage: mock-cloudinary/tests/sdk/setup.sh [VENV_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${1:-$root/target/sdk-venv}"
python="${PYTHON:-python3}"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
echo "export OOMLAB_SDK_PYTHON=$venv/bin/python"
