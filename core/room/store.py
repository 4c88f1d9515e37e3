"""Rooms on disk: who opened each, when it closes, and the digits its phones sent.

A room is <rooms>/<CODE>.json (its code, the hash of its presenter's secret, when it opened and
closes, whether it was closed) and <rooms>/<CODE>.jsonl, one line per drawing sent (its digit id,
true label, phone, time) or hidden. The drawings themselves are a set of my digits named
"Room <CODE>" (core.data.mydigits: written whole or not at all, images before the index), so a
room's collection is exported, imported and trained on like any set. A drawing counts as sent
once the set holds it; its line comes after, appended in one write. A line lost to a crash costs
only who sent it: the set still lists the drawing, and the wall still shows it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.data import mydigits
from core.data.digitset import MAX_CANVAS_SIDE, InvalidDigits, check_label
from core.data.mnist import resolve_data_dir
from core.room.codes import WrongCodeLimiter, new_code, normalize_code
from core.room.limits import RoomLimits
from core.runs.atomic import write_file
from core.runs.filelock import locked

FOLDER_ENV = "DIGITLAB_ROOMS"
FOLDER = "rooms"
SET_PREFIX = "Room "  # + the code: the set of my digits that holds a room's drawings
LOCK_FILE = ".lock"


class RoomRefused(Exception):
    """A room refused a request; the message says why, in words a phone can show."""


@dataclass(frozen=True)
class Room:
    """One room: its code, its presenter (by a hash of their secret) and its opening hours."""

    code: str
    owner_hash: str
    opened_at: float  # seconds since the epoch
    closes_at: float
    closed: bool = False
    model: str = ""  # the folder of the run that reads the phones' drawings: the presenter's

    @property
    def set_name(self) -> str:
        """Return the name of the set of my digits that holds this room's drawings."""
        return SET_PREFIX + self.code

    def is_open(self, now: float) -> bool:
        """Return whether phones may still join and send."""
        return not self.closed and now < self.closes_at

    def owned_by(self, secret: str) -> bool:
        """Return whether secret is the presenter's."""
        return bool(secret) and _hash(secret) == self.owner_hash


@dataclass(frozen=True)
class RoomDrawing:
    """One drawing a phone sent: its id in the room's set, the digit asked for, who, when."""

    id: str
    label: int
    phone: str
    at: float


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def rooms_dir(data_dir=None) -> Path:
    """Return the folder of rooms: $DIGITLAB_ROOMS, else <data>/rooms."""
    override = os.environ.get(FOLDER_ENV)
    return Path(override) if override else resolve_data_dir(data_dir) / FOLDER


def _canvas_to_keep(canvas) -> np.ndarray | None:
    """Return a phone's canvas (grey or colour, any size) as grey, at most the set's side."""
    if canvas is None:
        return None
    array = np.asarray(canvas)
    if array.ndim == 3:
        array = array[..., :3].astype(np.float64).mean(axis=2)
    image = Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L")
    if max(image.size) > MAX_CANVAS_SIDE:
        image.thumbnail((MAX_CANVAS_SIDE, MAX_CANVAS_SIDE))
    return np.asarray(image)


class RoomStore:
    """Opens and closes rooms, takes the phones' drawings under the limits, lists them."""

    def __init__(self, data_dir=None, limits: RoomLimits | None = None, clock=time.time):
        self.data_dir = data_dir
        self.folder = rooms_dir(data_dir)
        self.limits = limits or RoomLimits.from_env()
        self.clock = clock
        self.wrong_codes = WrongCodeLimiter(
            self.limits.wrong_codes_per_minute, self.limits.wrong_codes_per_minute_all
        )
        self._lock = threading.RLock()
        self._last_sent: dict[tuple[str, str], float] = {}  # (code, phone): when, this process
        self._prompts: dict[tuple[str, str], int] = {}  # (code, phone): the digit asked for
        self._joined: dict[str, set[str]] = {}  # code: phones that opened the page

    # --- rooms --------------------------------------------------------------------------

    def _path(self, code: str, suffix: str) -> Path:
        return self.folder / f"{code}{suffix}"

    def open_room(self, secret: str) -> Room:
        """Open a new room for the presenter holding secret; close their older open room."""
        if not secret:
            raise ValueError("a room needs its presenter's secret")
        with self._writing():
            now = self.clock()
            for room in self.rooms():
                if room.owned_by(secret) and room.is_open(now):
                    self._save(Room(**{**asdict(room), "closed": True}))
            taken = {path.stem for path in self.folder.glob("*.json")}
            room = Room(new_code(taken), _hash(secret), now, now + 3600 * self.limits.hours_open)
            self._save(room)
        return room

    def _save(self, room: Room) -> None:
        write_file(self._path(room.code, ".json"), json.dumps(asdict(room)).encode())

    def rooms(self) -> list[Room]:
        """Return every room on disk, open or not (damaged records are passed over)."""
        found = []
        for path in sorted(self.folder.glob("*.json")):
            room = self._read(path)
            if room is not None:
                found.append(room)
        return found

    def _read(self, path: Path) -> Room | None:
        try:
            data = json.loads(path.read_bytes()[:4096])
            room = Room(
                code=str(data["code"]),
                owner_hash=str(data["owner_hash"]),
                opened_at=float(data["opened_at"]),
                closes_at=float(data["closes_at"]),
                closed=bool(data.get("closed", False)),
                model=str(data.get("model", "")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return room if room.code == path.stem else None

    def room(self, code: str) -> Room | None:
        """Return the room with this code (normalised), or None if there is none."""
        code = normalize_code(code)
        return self._read(self._path(code, ".json")) if code else None

    def owned_room(self, secret: str) -> Room | None:
        """Return the open room of the presenter holding secret, if any."""
        now = self.clock()
        return next((r for r in self.rooms() if r.owned_by(secret) and r.is_open(now)), None)

    def close(self, code: str, secret: str) -> None:
        """Close a room (its drawings stay, as a set of my digits); only its presenter may."""
        with self._writing():
            room = self.room(code)
            if room is None or not room.owned_by(secret):
                raise RoomRefused("Only the presenter who opened this room can close it.")
            self._save(Room(**{**asdict(room), "closed": True}))

    def set_model(self, code: str, secret: str, model: str) -> Room:
        """Make a run (its folder) the one that reads this room's drawings; the presenter's call."""
        with self._writing():
            room = self.room(code)
            if room is None or not room.owned_by(secret):
                raise RoomRefused("Only the presenter who opened this room can choose its model.")
            if room.model != model:
                room = Room(**{**asdict(room), "model": str(model)})
                self._save(room)
        return room

    def check_code(self, text: str, address: str) -> Room:
        """Return the open room a phone's code names, or raise RoomRefused saying why."""
        if self.wrong_codes.blocked(address):
            raise RoomRefused(
                "Too many wrong room codes from here in the last minute. Wait a minute, then "
                "scan the code on the screen again."
            )
        room = self.room(text)
        if room is None:
            self.wrong_codes.wrong(address)
            raise RoomRefused(
                "There is no room with that code. Check the code on the presenter's screen, "
                "or scan its QR code again."
            )
        if not room.is_open(self.clock()):
            raise RoomRefused("This room has closed. Thank you for drawing!")
        return room

    # --- phones -------------------------------------------------------------------------

    def join(self, code: str, phone: str) -> None:
        """Count a phone that opened the room's page."""
        with self._lock:
            self._joined.setdefault(code, set()).add(phone)

    def phones(self, code: str, drawings: list[RoomDrawing] | None = None) -> tuple[int, int]:
        """Return how many phones joined this room (this process) and how many sent a drawing;
        drawings: the room's, when the caller has just read them."""
        drawn = self.drawings(code) if drawings is None else drawings
        drew = {entry.phone for entry in drawn}
        with self._lock:
            joined = self._joined.get(code, set()) | drew
        return len(joined), len(drew)

    def prompt(self, code: str, phone: str) -> int:
        """Return the digit this phone is asked to draw: one the room has fewest of so far."""
        with self._lock:
            key = (code, phone)
            if key not in self._prompts:
                counts = np.zeros(10)
                for entry in self.drawings(code):
                    counts[entry.label] += 1
                for (room_code, _), label in self._prompts.items():
                    if room_code == code:
                        counts[label] += 0.5  # asked of another phone, not yet drawn
                fewest = np.flatnonzero(counts == counts.min())
                self._prompts[key] = int(random.choice(fewest))
            return self._prompts[key]

    def send(
        self, code: str, phone: str, image, canvas=None, label: int | None = None
    ) -> RoomDrawing:
        """Keep a phone's drawing of its prompted digit (a 28×28 image), under the limits;
        label: the true digit where a tool knows it (a bench's handwriting), not a prompt."""
        room = self.room(code)
        now = self.clock()
        if room is None or not room.is_open(now):
            raise RoomRefused("This room has closed: your drawing was not sent.")
        with self._writing():
            last = self._last_sent.get((code, phone))
            wait = None if last is None else self.limits.seconds_between - (now - last)
            if wait is not None and wait > 0:
                raise RoomRefused(
                    f"One drawing every {self.limits.seconds_between:g} s: "
                    f"send again in {max(wait, 0.1):.1f} s."
                )
            entries = self.drawings(code)
            if sum(e.phone == phone for e in entries) >= self.limits.max_per_phone:
                raise RoomRefused(
                    f"You have sent {self.limits.max_per_phone} drawings, the "
                    "most one phone may send to a room. Thank you!"
                )
            if len(entries) >= self.limits.max_per_room:
                raise RoomRefused(
                    f"The room holds {self.limits.max_per_room:,} drawings, "
                    "its limit: it takes no more."
                )
            label = self.prompt(code, phone) if label is None else check_label(label)
            try:
                saved = mydigits.save_digit(
                    room.set_name, check_label(label), image, _canvas_to_keep(canvas), self.data_dir
                )
            except InvalidDigits as exc:
                raise RoomRefused(f"Your drawing could not be kept: {exc}") from None
            drawing = RoomDrawing(saved.id, label, phone, now)
            self._append(code, {"id": drawing.id, "label": label, "phone": phone, "at": now})
            self._last_sent[(code, phone)] = now
            self._prompts.pop((code, phone), None)  # the next drawing gets a new digit
        return drawing

    def hide(self, code: str, secret: str, digit_id: str) -> None:
        """Take a drawing off the wall and out of the set; only the presenter may."""
        room = self.room(code)
        if room is None or not room.owned_by(secret):
            raise RoomRefused("Only the presenter who opened this room can hide its drawings.")
        with self._writing():
            # already gone from the set (deleted on the Data page): hide it all the same
            with suppress(InvalidDigits):
                mydigits.delete_digit(room.set_name, digit_id, self.data_dir)
            self._append(code, {"hide": digit_id})

    def drawings(self, code: str) -> list[RoomDrawing]:
        """Return the room's drawings that are still in its set, newest first."""
        room = self.room(code)
        if room is None:
            return []
        try:
            kept = mydigits.load_set(room.set_name, self.data_dir)
        except InvalidDigits:
            return []  # nothing sent yet
        sent, hidden = self._log(code)
        by_id = {digit.id: digit for digit in kept.digits}
        found = [
            sent.get(i) or RoomDrawing(i, d.label, "", 0.0)
            for i, d in by_id.items()
            if i not in hidden
        ]
        return sorted(found, key=lambda d: d.id, reverse=True)  # ids sort by age

    def images(self, code: str, ids) -> np.ndarray:
        """Return the 28×28 images (uint8) of the room's drawings with these ids, in order."""
        room = self.room(code)
        digit_set = mydigits.load_set(room.set_name, self.data_dir)
        return (
            np.stack([digit_set.image(i) for i in ids]) if ids else np.zeros((0, 28, 28), np.uint8)
        )

    # --- files --------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold this process's lock, then the folder's, which replicas of the app share."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock, locked(self.folder / LOCK_FILE):
            yield

    def _append(self, code: str, entry: dict) -> None:
        line = (json.dumps(entry) + "\n").encode()
        fd = os.open(self._path(code, ".jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write of one short line: whole or not at all
            os.fsync(fd)
        finally:
            os.close(fd)

    def _log(self, code: str) -> tuple[dict[str, RoomDrawing], set[str]]:
        sent, hidden = {}, set()
        try:
            lines = self._path(code, ".jsonl").read_bytes().splitlines()
        except OSError:
            return sent, hidden
        for line in lines:
            try:
                entry = json.loads(line)
                if "hide" in entry:
                    hidden.add(str(entry["hide"]))
                else:
                    drawing = RoomDrawing(
                        str(entry["id"]),
                        check_label(entry["label"]),
                        str(entry["phone"]),
                        float(entry["at"]),
                    )
                    sent[drawing.id] = drawing
            except (ValueError, KeyError, TypeError, InvalidDigits):
                continue  # a line torn by a crash: the set still has the drawing
        return sent, hidden
