"""The Dockerfile's recipe (deploy/install.sh, deploy/start.sh) gives a server that answers.

Engine or not, the recipe runs here as the Dockerfile runs it: a fresh virtual environment made
by `python3 -m venv` in a temporary folder, torch and torchvision from the index the Dockerfile
takes as a build argument, then requirements.txt, then MNIST from the data pack into an empty
folder; deploy/start.sh then serves the app, which must answer its health check and run a page.
The index is pointed at the one pip reaches here, PyPI (DIGITLAB_TORCH_INDEX_URL overrides),
since PyTorch's CPU index is out of reach. PyPI's Linux torch is the CUDA build: 5.9 GB
installed against the image's CPU torch, measured at 134 s and 147 s for the whole install on
this 2-core machine (pip takes torch from its local mirror; 170 s for the test). That is within
this test's budget, so it installs everything for real, as the image does. The cheaper ways
change what is tested: a .pth file pointing into ./.venv would reuse torch without installing
it, and the local CPU torch wheel (2.13.0+cpu) has no matching CPU torchvision here (PyPI's
torchvision is linked against CUDA torch and fails to import). The venv is deleted afterwards.

With a working engine (podman, or docker with a daemon), the image itself is built and run:
from the Dockerfile's base image, or DIGITLAB_BASE_IMAGE where no registry can be reached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from core.bench.appserver import REPO, free_port
from core.bench.pages import SessionClient

TORCH_INDEX_URL = os.environ.get("DIGITLAB_TORCH_INDEX_URL", "https://pypi.org/simple")
# the Dockerfile's default base image; where registries are out of reach, set this to a local one
BASE_IMAGE = os.environ.get("DIGITLAB_BASE_IMAGE", "python:3.11-slim-bookworm")
IMAGE = "localhost/digitlab:test"
# podman's default limits (a million open files) are above what some sandboxes allow
RUN_LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def wait_healthy(url: str, seconds: float, process: subprocess.Popen | None = None) -> None:
    """Wait until url's /_stcore/health answers ok, or fail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200 and reply.read() == b"ok":
                    return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before it answered")
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer its health check within {seconds:g} s")


def assert_serves_the_app(url: str) -> None:
    """Fail unless url serves Streamlit's page and runs the Data page (MNIST) without an error."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        assert '<div id="root">' in reply.read().decode()
    client = SessionClient(url, timeout=120)
    try:
        visit = client.visit("")  # the Data page loads MNIST: the baked data is there
    finally:
        client.close()
    assert visit.errors == []


def log_tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.mark.untimed
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_install_and_start_scripts_serve_the_app_from_a_fresh_venv(tmp_path):
    venv, data = tmp_path / "venv", tmp_path / "data"
    env = {
        **os.environ,
        "DIGITLAB_VENV": str(venv),
        "DIGITLAB_DATA": str(data),
        "TORCH_INDEX_URL": TORCH_INDEX_URL,
        # pip byte-compiling torch's modules is a third of torch's install here (40 s with it,
        # 27 s without, 2026-12-06) and is pip's work, not the recipe's; the image keeps it
        "PIP_COMPILE": "0",
    }
    install_log = tmp_path / "install.log"
    try:
        started = time.monotonic()
        with open(install_log, "w") as log:
            result = subprocess.run(
                ["bash", "deploy/install.sh"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=540,
            )
        install_seconds = time.monotonic() - started
        assert result.returncode == 0, log_tail(install_log)
        # from the data pack here; torchvision's download comes first where it is reachable
        assert (data / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file()
        print(f"install: {install_seconds:.0f} s")

        port = free_port()
        server_env = {
            **env,
            "DIGITLAB_ADDRESS": "127.0.0.1",
            "DIGITLAB_PORT": str(port),
            "DIGITLAB_RUNS": str(tmp_path / "runs"),
            "DIGITLAB_MY_DIGITS": str(tmp_path / "my-digits"),
        }
        server_log = tmp_path / "server.log"
        with open(server_log, "w") as log:
            server = subprocess.Popen(
                ["bash", "deploy/start.sh"],
                cwd=REPO,
                env=server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            started = time.monotonic()
            wait_healthy(url, 90, server)
            print(f"start to healthy: {time.monotonic() - started:.1f} s")
            assert_serves_the_app(url)
        finally:
            server.terminate()  # start.sh execs the server: the signal reaches Streamlit itself
            server.wait(20)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # 6 GB


def container_engine() -> str:
    """Return podman or docker if it can run a container from the base image here, else skip."""
    reasons = []
    for engine in ("podman", "docker"):
        if shutil.which(engine) is None:
            reasons.append(f"{engine}: not installed")
            continue
        has_base = subprocess.run(
            [engine, "image", "exists" if engine == "podman" else "inspect", BASE_IMAGE],
            capture_output=True,
            timeout=60,
        )  # podman's "exists" answers by its exit code alone
        if has_base.returncode != 0:
            pulled = subprocess.run([engine, "pull", BASE_IMAGE], capture_output=True, timeout=120)
            if pulled.returncode != 0:
                error = (pulled.stderr or b"").decode(errors="replace").strip().splitlines()
                reasons.append(f"{engine}: cannot get {BASE_IMAGE} ({error[-1] if error else '?'})")
                continue
        ran = subprocess.run(
            [engine, "run", "--rm", *RUN_LIMITS, BASE_IMAGE, "true"],
            capture_output=True,
            timeout=120,
        )
        if ran.returncode == 0:
            return engine
        error = (ran.stderr or b"").decode(errors="replace").strip().splitlines()
        reasons.append(f"{engine}: cannot run a container ({error[-1] if error else '?'})")
    pytest.skip("no container engine works here: " + "; ".join(reasons))


def build_mounts() -> list[str]:
    """Return the build's read-only mounts of this machine's TLS and pip settings, where present."""
    # pip in the build reaches PyPI as pip here does: through the same certificate authorities
    # (a proxy that re-signs TLS needs its own) and the pip.conf that names them
    mounts = []
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf"):
        if os.path.exists(path):
            mounts += ["--volume", f"{path}:{path}:ro"]
    return mounts


def image_health_check_passes(engine: str, name: str) -> bool:
    """Return whether the image's own HEALTHCHECK passes in the running container."""
    if engine == "podman":  # runs it now (podman's timers need systemd, which may be absent)
        return subprocess.run([engine, "healthcheck", "run", name], timeout=60).returncode == 0
    deadline = time.monotonic() + 120  # docker runs it every 30 s after the start
    while time.monotonic() < deadline:
        status = subprocess.run(
            [engine, "inspect", "--format", "{{.State.Health.Status}}", name],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        if status in ("healthy", "unhealthy"):
            return status == "healthy"
        time.sleep(2)
    return False


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_image_builds_and_answers_on_its_port():
    engine = container_engine()
    # the first build installs torch (about 5 minutes here); later ones reuse that layer
    build = subprocess.run(
        [engine, "build", "--network", "host", *RUN_LIMITS, *build_mounts()]
        + (["--format", "docker"] if engine == "podman" else [])  # OCI images drop HEALTHCHECK
        + ["--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
        + ["--build-arg", f"TORCH_INDEX_URL={TORCH_INDEX_URL}", "-t", IMAGE, "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-3000:]
    port = free_port()
    name = f"digitlab-test-{port}"
    started = subprocess.run(
        [engine, "run", "-d", "--rm", "--name", name, *RUN_LIMITS]
        + ["-p", f"127.0.0.1:{port}:8501", IMAGE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    try:
        wait_healthy(f"http://127.0.0.1:{port}", 120)
        assert_serves_the_app(f"http://127.0.0.1:{port}")
        user = subprocess.run(
            [engine, "exec", name, "id", "-u"], capture_output=True, text=True, timeout=30
        )
        assert user.stdout.strip() not in ("", "0"), "the server runs as root"
        assert image_health_check_passes(engine, name)
    finally:
        subprocess.run([engine, "rm", "-f", name], capture_output=True, timeout=60)
