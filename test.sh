#!/usr/bin/env bash
# Install the test dependencies (plus Chromium and fonts from Debian) and run the tests.
#   ./test.sh                     everything, browser tests included (what CI runs); the slowest listed
#   ./test.sh --fast              the fast tier: no browser, servers or worker processes, and no test
#                                 that took over 2 s in the last full run (tests/durations.json); from a
#                                 warm virtual environment it skips the install
#   ./test.sh --record-durations  everything, writing each test's seconds to tests/durations.json
# DIGITLAB_VENV chooses the virtual environment (default ./.venv); other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
venv="${DIGITLAB_VENV:-.venv}"
tier=full
case "${1:-}" in
  --fast) tier=fast; shift ;;
  --record-durations) tier=record; shift ;;
esac
if [ "$tier" = fast ] && [ -x "$venv/bin/python" ]; then
  export DIGITLAB_FAST_TESTS=1
  exec "$venv/bin/python" -m pytest -q -m "not browser and not servers and not processes and not long and not slow" "$@"
fi
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
case "$tier" in
  fast)
    export DIGITLAB_FAST_TESTS=1
    exec "$venv/bin/python" -m pytest -q -m "not browser and not servers and not processes and not long and not slow" "$@" ;;
  record)
    export DIGITLAB_RECORD_DURATIONS=1
    exec "$venv/bin/python" -m pytest --durations=25 "$@" ;;
  *)
    exec "$venv/bin/python" -m pytest --durations=25 "$@" ;;
esac
