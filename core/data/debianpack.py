"""Fashion-MNIST offline: Debian's package dataset-fashion-mnist, fetched and unpacked, never installed.

`apt-get download` fetches the .deb into a temporary folder (no root, nothing installed),
`dpkg-deb -x` unpacks it there, and the four gzipped IDX files it holds are gunzipped into
torchvision's raw folder once each file's SHA-256 matches (core.data.datasets.FASHION_SHA256).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from core.data.datasets import FASHION_SHA256, RAW_NAMES

PACKAGE = "dataset-fashion-mnist"
PACKAGE_FOLDER = Path("usr/share/datasets/fashion-mnist")  # inside the package
MAX_RAW_BYTES = 64 * 2**20  # the largest file, train-images, is 47,040,016 bytes


class DebianPackError(RuntimeError):
    """The package could not be fetched, unpacked or verified; the message says which."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_from_tree(tree: Path, raw: Path, hashes: dict[str, str] = FASHION_SHA256) -> None:
    """Gunzip the package's four IDX files from an unpacked tree into raw, each checked first."""
    source = Path(tree) / PACKAGE_FOLDER
    raw = Path(raw)
    raw.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for name in RAW_NAMES:
            packed = source / f"{name}.gz"
            if not packed.is_file():
                raise DebianPackError(f"the package has no {PACKAGE_FOLDER / packed.name}")
            tmp = raw / f".{name}.tmp"
            staged.append(tmp)
            with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
                # a bounded copy: a damaged or hostile archive cannot fill the disk
                while block := src.read(2**20):
                    if dst.tell() + len(block) > MAX_RAW_BYTES:
                        raise DebianPackError(f"{packed.name} unpacks to over 64 MiB")
                    dst.write(block)
            found = _sha256(tmp)
            if found != hashes[name]:
                raise DebianPackError(
                    f"{name} has SHA-256 {found[:16]}…, not the expected {hashes[name][:16]}…"
                )
        for name, tmp in zip(RAW_NAMES, staged):
            os.replace(tmp, raw / name)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DebianPackError(f"the package's files could not be read ({exc})") from exc
    finally:
        for tmp in staged:
            tmp.unlink(missing_ok=True)


def install_debian_package(raw: Path, timeout: float = 120.0) -> None:
    """Fetch Debian's Fashion-MNIST package, unpack it aside, and install its files into raw."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise DebianPackError(f"{tool} is not available (not a Debian-like system)")
    with tempfile.TemporaryDirectory(prefix="digitlab-fashion-") as folder:
        try:
            subprocess.run(
                ["apt-get", "download", PACKAGE],
                cwd=folder,
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            [deb] = Path(folder).glob(f"{PACKAGE}_*.deb")
            subprocess.run(
                ["dpkg-deb", "-x", str(deb), str(Path(folder) / "tree")],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.CalledProcessError as exc:
            message = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
            raise DebianPackError(
                f"{exc.cmd[0]} failed: {message[-1] if message else exc}"
            ) from exc
        except (subprocess.TimeoutExpired, ValueError, OSError) as exc:
            raise DebianPackError(
                f"fetching {PACKAGE} failed ({type(exc).__name__}: {exc})"
            ) from exc
        install_from_tree(Path(folder) / "tree", raw)
