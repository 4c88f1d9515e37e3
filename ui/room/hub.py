"""What the room's pages share: one store per server, who the presenter is, who a phone is."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from core.data.datasets import DEFAULT_DATASET
from core.draw.follow import model_at, score_digit
from core.events import ModelSnapshot
from core.room.store import Room, RoomStore
from core.runs.store import InvalidRun, Run
from ui.shared import session, state

SECRET_KEY = "_room_secret"
SECRET_COOKIE = "digitlab-room-secret"  # the presenter's browser keeps its room across refreshes
PHONE_KEY = "_room_phone"
PHONE_COOKIE = "digitlab-room-phone"  # a phone keeps its id (and its limits) across refreshes
COOKIE_SECONDS = 12 * 3600
MAX_SCORES = 20_000  # drawings' probabilities kept per server: ten full rooms
_scores: OrderedDict[tuple[str, float, str], np.ndarray] = OrderedDict()
_scores_lock = threading.Lock()
_presenters: dict[str, str] = {}  # room code: the presenter's session id (this process)
_live: dict[str, tuple] = {}  # a training's run id: its network and the step of its weights
_live_lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def store() -> RoomStore:
    """Return the server's one room store (rooms live in files; this holds their pace limits)."""
    return RoomStore(state.data_dir())


def _write_cookie(name: str, value: str) -> None:
    """Have this browser keep a cookie (written by the page; sent back when a tab connects)."""
    if session.browser_cookies().get(name) == value:
        return
    session.set_cookies([f"{name}={value}; path=/; max-age={COOKIE_SECONDS}; SameSite=Strict"])


def presenter_secret(make: bool = False) -> str | None:
    """Return this browser's presenter secret (made on request), which owns its room."""
    secret = st.session_state.get(SECRET_KEY) or session.browser_cookies().get(SECRET_COOKIE)
    if not secret and make:
        secret = secrets.token_urlsafe(18)
    if secret:
        st.session_state[SECRET_KEY] = secret
    return secret


def keep_presenter_cookie() -> None:
    """Write the presenter's secret into this browser's cookie, so a refresh keeps the room."""
    if secret := st.session_state.get(SECRET_KEY):
        _write_cookie(SECRET_COOKIE, secret)


def my_room() -> Room | None:
    """Return the open room this browser presents, if any."""
    secret = presenter_secret()
    return store().owned_room(secret) if secret else None


def phone_id() -> str:
    """Return this phone's id: kept in a cookie, so a refresh is the same phone."""
    phone = st.session_state.get(PHONE_KEY) or session.browser_cookies().get(PHONE_COOKIE)
    if not phone or len(phone) > 64:
        phone = uuid.uuid4().hex
    st.session_state[PHONE_KEY] = phone
    _write_cookie(PHONE_COOKIE, phone)
    return phone


def client_address() -> str:
    """Return the address this browser connects from (wrong codes are counted per address)."""
    try:
        return st.context.ip_address or "unknown"
    except Exception:  # no browser behind the session (a bare script run)
        return "unknown"


def room_model(room: Room) -> Run | None:
    """Return the run that reads the room's drawings, or None (none chosen, or it is gone)."""
    if not room.model or not (Path(room.model) / "summary.json").is_file():
        return None
    try:
        return state.cached_run(room.model)
    except (InvalidRun, OSError):
        return None


def probabilities(run: Run, room: Room, ids: list[str]) -> np.ndarray:
    """Return the run's probabilities for the room's drawings (each computed once per model)."""
    model_key = (room.model, _modified(room))
    with _scores_lock:
        missing = [i for i in ids if (*model_key, i) not in _scores]
    if missing:
        images = store().images(room.code, missing)
        # uint8 digits as they are: predict_proba scales them as MNIST's are
        found = run.predict_proba(torch.from_numpy(images)).numpy()
        with _scores_lock:
            for digit_id, row in zip(missing, found, strict=True):
                _scores[(*model_key, digit_id)] = row
            while len(_scores) > MAX_SCORES:
                _scores.popitem(last=False)
    with _scores_lock:
        return np.stack([_scores[(*model_key, i)] for i in ids]) if ids else np.zeros((0, 10))


@dataclass(frozen=True)
class Reader:
    """What reads a phone's drawing, and how the phone names it."""

    score: Callable[[torch.Tensor], np.ndarray]  # a (1, 28, 28) digit: probabilities
    classes: tuple[int, ...]
    called: str  # "the model", or "the network training now (step 1,240)"


def remember_presenter(room: Room) -> None:
    """Note this session as the room's presenter: the phones follow the trainings it starts."""
    with _live_lock:
        _presenters[room.code] = session.session_id()


def _training(room: Room):
    """Return the presenter's training whose weights of the moment can read a drawing."""
    with _live_lock:
        presenter = _presenters.get(room.code)
    found = [
        job for job in state.registry().jobs()
        if presenter and job.owner == presenter and job.state == "running"
        and job.config.dataset == DEFAULT_DATASET and job.snapshot(ModelSnapshot) is not None
    ]  # fmt: skip
    return found[-1] if found else None


def reader(room: Room, run: Run | None) -> Reader | None:
    """Return what reads the room's drawings: a network the presenter is training (with its
    weights of the moment), else the room's saved model, else None."""
    job = _training(room)
    if job is not None:
        snapshot = job.snapshot(ModelSnapshot)
        with _live_lock:
            model, step = _live.get(job.run_id, (None, None))
            if step != snapshot.step:
                model = model_at(job.spec, snapshot, model)
            _live.clear()  # one network kept: the one followed now
            _live[job.run_id] = (model, snapshot.step)

        def score(digit: torch.Tensor) -> np.ndarray:
            with _live_lock:  # another phone's call may copy the next weights in
                return score_digit(model, digit, job.spec, job.config)

        called = f"the network training now (step {snapshot.step:,})"
        return Reader(score, tuple(job.config.classes), called)
    if run is None:
        return None
    return Reader(
        lambda digit: run.predict_proba(digit.unsqueeze(0))[0].numpy(), tuple(run.classes),
        "the model",
    )  # fmt: skip


def _modified(room: Room) -> float:
    """Return when the room's model was last written (a run trained on is a new model)."""
    try:
        return (Path(room.model) / "summary.json").stat().st_mtime
    except OSError:
        return 0.0
