#!/usr/bin/env bash
# Install the test dependencies (plus Chromium and fonts from Debian) and run the whole test suite.
# DIGITLAB_VENV chooses the virtual environment (default ./.venv); extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
venv="${DIGITLAB_VENV:-.venv}"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r requirements-dev.txt
# Chromium drives the browser tests, HAProxy the replicas test; the fonts draw the handwriting half
# of the drawing benchmark
packages="chromium haproxy fontconfig fonts-bwht fonts-comic-neue fonts-dkg-handwriting fonts-humor-sans fonts-klee
  fonts-rufscript fonts-breip fonts-dejavu-core fonts-liberation fonts-urw-base35"
missing=$(for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing from Debian's packages: $(echo $missing)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  # shellcheck disable=SC2086
  $SUDO apt-get install -y --no-install-recommends $missing >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends $missing >/dev/null; }
fi
exec "$venv/bin/python" -m pytest "$@"
