"""Teach it our handwriting: one click fine-tunes the room's model on the room's drawings, as a
training job, then shows what it learnt (held-out room drawings) and what it kept (MNIST)."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from core.room.scores import held_out_ids
from core.room.store import Room
from core.room.teach import TEACH_STEPS, teach_config, teach_name
from core.runs.store import InvalidRun, Run
from ui.room import hub
from ui.shared import session, state

JOB_KEY = "room-teach-job"
BEFORE_KEY = "room-teach-before"  # the model taught and the drawings held out, at the click
RESULT_KEY = "room-teach-result"  # before and after, once the job has ended
PROBLEM_KEY = "room-teach-problem"


def _held_out_accuracy(run: Run, room: Room, ids: list[str], labels: list[int]) -> float | None:
    """Return the run's accuracy on the room's held-out drawings (None when there are none)."""
    if not ids:
        return None
    probabilities = run.predict_proba(torch.from_numpy(hub.store().images(room.code, ids))).numpy()
    guesses = [run.classes[int(row.argmax())] for row in probabilities]
    return float(np.mean([g == label for g, label in zip(guesses, labels, strict=True)]))


def start_teaching(room: Room) -> None:
    """Queue the fine-tune (button callback), or say why it cannot start."""
    st.session_state.pop(PROBLEM_KEY, None)
    run = hub.room_model(room)
    drawings = [d for d in hub.store().drawings(room.code) if run and d.label in run.classes]
    held = held_out_ids(room.code, drawings)
    try:
        if run is None:
            raise ValueError("no model reads the room yet")
        config = teach_config(run.config, room.set_name, len(drawings) - len(held))
        job = state.registry().submit(
            run.spec,
            config,
            name=teach_name(room.code),
            data_dir=str(state.data_dir()),
            runs_dir=str(state.runs_dir()),
            owner=session.session_id(),
            start_from=room.model,
            skip_digits=tuple(sorted(held)),
        )
    except ValueError as exc:
        st.session_state[PROBLEM_KEY] = str(exc)
        return
    held_drawings = [d for d in drawings if d.id in held]
    st.session_state[JOB_KEY] = job.run_id
    st.session_state[BEFORE_KEY] = {
        "model": room.model,
        "ids": [d.id for d in held_drawings],
        "labels": [d.label for d in held_drawings],
        "taught": len(drawings) - len(held),
    }
    st.session_state.pop(RESULT_KEY, None)


def settle(room: Room) -> Room:
    """Once the fine-tune has ended: make its run the room's and this browser's model, measure
    before and after, and redraw the whole page (the sidebar names the active model)."""
    job = state.registry().get(st.session_state.get(JOB_KEY) or "")
    if job is None or job.active:
        return room
    st.session_state.pop(JOB_KEY)
    before = st.session_state.pop(BEFORE_KEY, None)
    if job.state != "finished" or job.run_dir is None or before is None:
        st.session_state[PROBLEM_KEY] = (
            f"The fine-tune failed: {job.error}"
            if job.state == "failed"
            else "The fine-tune was stopped before it finished; the model is unchanged."
        )
        return room
    try:
        old, new = state.cached_run(before["model"]), state.cached_run(job.run_dir)
    except (InvalidRun, OSError) as exc:
        st.session_state[PROBLEM_KEY] = f"The fine-tuned run cannot be loaded: {exc}"
        return room
    ids, labels = before["ids"], before["labels"]
    st.session_state[RESULT_KEY] = {
        "held": len(ids),
        "taught": before["taught"],
        "room": (
            _held_out_accuracy(old, room, ids, labels),
            _held_out_accuracy(new, room, ids, labels),
        ),
        "mnist": (old.summary.get("test_accuracy"), new.summary.get("test_accuracy")),
    }
    state.set_active_run(job.run_dir)
    hub.store().set_model(room.code, hub.presenter_secret() or "", str(job.run_dir))
    st.rerun(scope="app")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def teach(room: Room) -> None:
    """Offer the fine-tune, show its progress, then before and after."""
    job = state.registry().get(st.session_state.get(JOB_KEY) or "")
    st.subheader("Teach it our handwriting")
    if job is not None and job.active:
        progress = job.progress()
        done = min(progress.get("fraction") or 0.0, 1.0)
        st.progress(
            done,
            text=f"Learning the room's handwriting: step {progress['step']:,} "
            f"of {progress['total_steps'] or TEACH_STEPS:,}",
        )
        st.button("Stop", on_click=job.stop, key="room-teach-stop", icon=":material/stop:")
        return
    if problem := st.session_state.get(PROBLEM_KEY):
        st.error(f"Cannot teach the room's handwriting: {problem}", icon=":material/error:")
    if result := st.session_state.get(RESULT_KEY):
        (room_before, room_after), (mnist_before, mnist_after) = result["room"], result["mnist"]
        st.markdown(
            f"Fine-tuned on {result['taught']} of the room's drawings; measured on the "
            f"{result['held']} held out (never trained on) and on MNIST's 10,000 test digits:"
        )
        st.table(
            {
                "": ["Before", "After"],
                "the room's held-out drawings": [_percent(room_before), _percent(room_after)],
                "MNIST test digits": [_percent(mnist_before), _percent(mnist_after)],
            }
        )
    st.button(
        "Teach it our handwriting",
        type="primary",
        icon=":material/school:",
        on_click=start_teaching,
        args=(room,),
        key="room-teach",
        help=f"{TEACH_STEPS} steps from the room's model, on batches of about a quarter room "
        "drawings and three quarters MNIST digits. A fifth of each digit's drawings is kept "
        "aside to measure what it learnt. It saves a new run, which then reads the room.",
    )
