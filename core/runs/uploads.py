"""Files from users: read under a size limit, unzipped without trusting their names or sizes."""

from __future__ import annotations

import io
import os
import re
import zipfile
from typing import BinaryIO

MiB = 2**20
# A classroom server holds every upload in memory; the largest preset's run is about 5 MiB.
# Keep Streamlit's server.maxUploadSize (in MB) at this value so the two agree.
MAX_UPLOAD_BYTES = 200 * MiB
READ_CHUNK = MiB  # how much of a zip member is unpacked at a time


class RefusedFile(ValueError):
    """A file from a user was refused before anything in it was used; the message says why."""


def _megabytes(size: int) -> str:
    return f"{size / MiB:,.1f} MiB"


def read_upload(
    source: bytes | str | os.PathLike | BinaryIO, limit: int = MAX_UPLOAD_BYTES
) -> bytes:
    """Return the bytes of an uploaded file (bytes, a path or a binary file), refusing one over limit."""
    if isinstance(source, (str, os.PathLike)):
        size = os.stat(source).st_size  # a huge file is refused before a byte of it is read
        if size > limit:
            raise RefusedFile(f"the file is {_megabytes(size)}; the limit is {_megabytes(limit)}")
        with open(source, "rb") as file:
            source = file.read(limit + 1)
    elif not isinstance(source, (bytes, bytearray, memoryview)):
        source = source.read(limit + 1)
    data = bytes(source)
    if len(data) > limit:
        raise RefusedFile(f"the file is over {_megabytes(limit)}, the limit")
    return data


def escapes_folder(name: str) -> bool:
    """Return whether a member name could point outside the folder it is unpacked into."""
    parts = re.split(r"[\\/]", name)
    return (
        name.startswith(("/", "\\"))
        or bool(re.match(r"^[A-Za-z]:", name))  # a Windows drive
        or ".." in parts
        or "\x00" in name
    )


def open_zip(data: bytes) -> zipfile.ZipFile:
    """Return the zip archive in data, or raise RefusedFile if it is not a readable zip."""
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (
        Exception
    ) as exc:  # mangled headers raise BadZipFile, but also ValueError or struct.error
        raise RefusedFile(f"it is not a readable zip file ({exc})") from exc


def check_members(archive: zipfile.ZipFile, limits: dict[str, int], total: int) -> None:
    """Refuse members that escape the folder, repeat, or declare more bytes than allowed."""
    seen: set[str] = set()
    declared = 0
    for info in archive.infolist():
        name = info.filename
        if escapes_folder(name):
            raise RefusedFile(
                f"member {name!r} points outside the folder it would be unpacked into"
            )
        if name in seen:
            raise RefusedFile(f"member {name!r} appears twice")
        seen.add(name)
        limit = limits.get(name, total)
        if info.file_size > limit:
            raise RefusedFile(
                f"{name} unpacks to {_megabytes(info.file_size)}; the limit is {_megabytes(limit)}"
            )
        declared += info.file_size
        if declared > total:
            raise RefusedFile(f"its members unpack to over {_megabytes(total)}, the limit")


def read_members(archive: zipfile.ZipFile, limits: dict[str, int]) -> dict[str, bytes]:
    """Return each member's bytes, streamed up to its declared size (a lying header cannot inflate it)."""
    files = {}
    for info in archive.infolist():
        # check_members has held the declared size to the limit; the count stops there too
        limit = min(limits[info.filename], info.file_size)
        try:
            with archive.open(info) as member:
                data = _read_counted(member, limit)
        except RefusedFile:
            raise
        except Exception as exc:  # a damaged member raises BadZipFile, zlib.error, EOFError, ...
            raise RefusedFile(f"{info.filename} is damaged ({exc})") from exc
        files[info.filename] = data
    return files


def _read_counted(member: BinaryIO, limit: int) -> bytes:
    # One read(limit) would inflate a bomb up to the limit at once before the CRC check saw
    # the lie; in chunks, a member whose data runs past its declared size stops a chunk later.
    chunks, count = [], 0
    while chunk := member.read(min(READ_CHUNK, limit + 1 - count)):
        chunks.append(chunk)
        count += len(chunk)
        if count > limit:
            raise RefusedFile(f"{member.name} unpacks to more than it declares")
    return b"".join(chunks)
