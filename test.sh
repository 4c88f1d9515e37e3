#!/usr/bin/env bash
# Install the test dependencies (plus Chromium and fonts from Debian) and run the tests.
#   ./test.sh                     everything, browser tests included (what CI runs); the slowest listed
#   ./test.sh --fast              the fast tier: no browser, servers or worker processes, and no test
#                                 that took over 2 s in the last full run (tests/durations.json); from a
#                                 warm virtual environment it skips the install
#   ./test.sh --record-durations  everything one at a time, writing each test's seconds to
#                                 tests/durations.json
# Tests that need no browser or server run side by side, one pytest process per core (pytest-xdist;
# each process's torch on its share of the cores, tests/conftest.py), at the lowest priority;
# those that do run one at a time at the same time, as they time what a person waits for (the
# marks `timed` and `untimed` move a test between the two: tests/conftest.py).
# DIGITLAB_VENV chooses the virtual environment (default ./.venv), DIGITLAB_TEST_WORKERS the
# processes side by side (default: the cores), DIGITLAB_BROWSER_WORKERS those for the browser and
# server tests (default 1); other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
venv="${DIGITLAB_VENV:-.venv}"
workers="${DIGITLAB_TEST_WORKERS:-$(nproc 2>/dev/null || echo 2)}"
fast_marks="not browser and not servers and not processes and not long and not slow"
# torch's OpenMP threads sleep rather than spin while they wait for work: the two lanes keep
# both cores busy. The suite's user time was 14 min 8 s without, 13 min 10 s - 13 min 30 s with;
# its wall time did not change beyond the runs' spread (docs/reliability.md, 2026-12-07)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# the suite starts about 130 Python processes (servers, workers, command lines): with bytecode
# written to __pycache__ (ignored by git), each reads the app's modules compiled instead of
# compiling them, and pytest keeps its rewritten test modules (collecting one lane took
# 10.5 s with PYTHONDONTWRITEBYTECODE=1, 8.4 s without; 2026-12-07)
unset PYTHONDONTWRITEBYTECODE
tier=full
case "${1:-}" in
  --fast) tier=fast; shift ;;
  --record-durations) tier=record; shift ;;
esac
if [ "$tier" = fast ] && [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import xdist" 2>/dev/null; then
  export DIGITLAB_FAST_TESTS=1
  exec "$venv/bin/python" -m pytest -q -n "$workers" -m "$fast_marks" "$@"
fi
# Chromium drives the browser tests, HAProxy the replicas test; the fonts draw the handwriting half
# of the drawing benchmark. Debian's install runs while pip installs: each keeps about one core
# busy (apt 15 s, pip 80 s on a new machine here, 2026-12-07)
packages="chromium haproxy fontconfig fonts-bwht fonts-comic-neue fonts-dkg-handwriting fonts-humor-sans fonts-klee
  fonts-rufscript fonts-breip fonts-dejavu-core fonts-liberation fonts-urw-base35"
# installed, not only known: a removed package's left configuration satisfies `dpkg -s`
missing=$(for p in $packages; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || echo "$p"
done)
apt_pid=""
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing from Debian's packages: $(echo $missing)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; sudo -v; fi  # a password is asked here, not in the background
  # shellcheck disable=SC2086
  { $SUDO apt-get install -y --no-install-recommends $missing >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends $missing >/dev/null; }; } &
  apt_pid=$!
fi
# an install writes the requirements' hash into the environment; while it matches, the next run
# skips pip (7 s of a full run here; delete the environment, or its stamp, to reinstall)
stamp="$venv/.digitlab-requirements"
wanted=$(cat requirements.txt requirements-ray.txt requirements-dev.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r requirements-dev.txt
  echo "$wanted" >"$stamp"
fi
if [ -n "$apt_pid" ]; then
  wait "$apt_pid" || { echo "test.sh: installing Debian's packages failed" >&2; exit 1; }
fi
case "$tier" in
  fast)
    export DIGITLAB_FAST_TESTS=1
    exec "$venv/bin/python" -m pytest -q -n "$workers" -m "$fast_marks" "$@" ;;
  record)
    export DIGITLAB_RECORD_DURATIONS=1
    exec "$venv/bin/python" -m pytest -p no:xdist --durations=25 "$@" ;;
esac
# the full tier in two lanes at once: the tests that time what a person waits for one at a time
# at normal priority, the rest side by side at the lowest (nice 19), in the CPU time the first
# lane leaves idle (it waits on browsers and servers: 0.8 of a core on average here). pytest's
# 5 says a lane had no test to run (arguments that pick tests of one lane only), which is not a
# failure unless both say it
alone_marks="(browser or servers or timed) and not untimed"
side_log=$(mktemp)
trap 'rm -f "$side_log"' EXIT
side=0 alone=0
echo "== two lanes at once: side by side ($workers processes, nice 19) and one at a time; the"
echo "== side-by-side lane's report follows the other's"
nice -n 19 "$venv/bin/python" -m pytest -n "$workers" --dist loadfile --no-loadscope-reorder --durations=15 -m "not ($alone_marks)" "$@" \
  >"$side_log" 2>&1 &
side_pid=$!
echo "== one at a time: the tests that drive a browser, start servers or time CPU-bound work"
alone_args=(-p no:xdist)
if [ "${DIGITLAB_BROWSER_WORKERS:-1}" -gt 1 ]; then
  alone_args=(-n "$DIGITLAB_BROWSER_WORKERS" --dist loadfile)
fi
"$venv/bin/python" -m pytest "${alone_args[@]}" --durations=25 -m "$alone_marks" "$@" || alone=$?
wait "$side_pid" || side=$?
echo "== side by side: the other tests"
cat "$side_log"
if [ "$side" = 5 ] && [ "$alone" = 5 ]; then exit 5; fi
for status in "$side" "$alone"; do
  if [ "$status" != 0 ] && [ "$status" != 5 ]; then exit "$status"; fi
done
