#!/usr/bin/env bash
# Install the test dependencies (and Chromium for the browser tests) and run the whole test suite.
# DIGITLAB_VENV chooses the virtual environment (default ./.venv); extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
venv="${DIGITLAB_VENV:-.venv}"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  echo "Installing Chromium from Debian's packages for the browser tests…"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y --no-install-recommends chromium >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
exec "$venv/bin/python" -m pytest "$@"
