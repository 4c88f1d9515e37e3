# Digit Lab in a container: CPU by default, MNIST inside, so it serves with no network at all.
#
#   docker build -t digitlab .
#   docker run --rm -p 8501:8501 -v digitlab-state:/var/lib/digitlab digitlab
#
# The recipe is deploy/install.sh and deploy/start.sh; tests/test_container.py runs the same two
# scripts outside a container. Build arguments:
#   TORCH_INDEX_URL  where torch and torchvision come from. The default is PyTorch's CPU
#                    wheels; PyPI's Linux torch is the CUDA build, which made a 6.6 GB image.
#                    CUDA: PyTorch's CUDA wheels carry their own CUDA libraries, so the index is
#                    all that changes, and the host needs only the NVIDIA driver and container
#                    toolkit:  docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 -t digitlab:cu128 .
#                              docker run --gpus all -p 8501:8501 digitlab:cu128
#   BASE_IMAGE       any Debian or Ubuntu image with python3 (3.10+), its venv module and
#                    ca-certificates, e.g. a mirror of python:3.11-slim-bookworm where Docker Hub
#                    is out of reach, or an nvidia/cuda runtime image with python3 added.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# the server runs as a user of its own, who can write its state folder and nothing else
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin digitlab \
    && mkdir -p /var/lib/digitlab && chown digitlab:digitlab /var/lib/digitlab

ENV DIGITLAB_VENV=/opt/digitlab/venv \
    DIGITLAB_DATA=/opt/digitlab/data \
    DIGITLAB_RUNS=/var/lib/digitlab/runs \
    DIGITLAB_MY_DIGITS=/var/lib/digitlab/my-digits \
    DIGITLAB_PORT=8501 \
    PYTHONUNBUFFERED=1
WORKDIR /opt/digitlab/app

# the packages before the code, so that editing the code does not reinstall torch
COPY requirements.txt ./
COPY deploy/install.sh deploy/
RUN deploy/install.sh packages
COPY . .
# MNIST baked in (the data pack needs the network now, at build time, and never again)
RUN deploy/install.sh data

USER digitlab
# runs, my digits and the time estimates' correction: mount a volume here to keep them
VOLUME /var/lib/digitlab
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD "$DIGITLAB_VENV/bin/python" -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_stcore/health' % os.environ['DIGITLAB_PORT'], timeout=4)"
CMD ["deploy/start.sh"]
