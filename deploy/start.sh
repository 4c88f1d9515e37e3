#!/usr/bin/env bash
# Start Digit Lab's server, headless, in the foreground (the container's command).
#   DIGITLAB_VENV     the virtual environment deploy/install.sh made (default ./.venv)
#   DIGITLAB_ADDRESS  the address to listen on (default 0.0.0.0: every interface, as a container needs)
#   DIGITLAB_PORT     the port (default 8501)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${DIGITLAB_VENV:-.venv}"
# exec: the server is the process a container's stop signal reaches
exec "$venv/bin/python" -m streamlit run app.py \
  --server.address "${DIGITLAB_ADDRESS:-0.0.0.0}" \
  --server.port "${DIGITLAB_PORT:-8501}" \
  --server.headless true \
  --browser.gatherUsageStats false
