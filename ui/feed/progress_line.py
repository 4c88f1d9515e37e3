"""The Train page's progress line: epoch, step, samples a second and time left."""

from __future__ import annotations

from core.events import Step
from core.train.job import Job
from ui.shared.widgets import format_seconds

STARTING = "Starting: the training process is loading the digits…"


def progress_text(progress: dict, steps: list[Step], batch_size: int) -> str:
    """Return the progress line: epoch, step, samples per second and time left."""
    # the trainer's rate covers only its last flush; the mean of the last 20 is steadier
    recent = [s.samples_per_s for s in steps[-20:] if s.samples_per_s]
    rate = sum(recent) / len(recent) if recent else 0.0
    remaining = max(progress["total_steps"] - progress["step"], 0)
    eta = remaining * batch_size / rate if rate > 0 else None
    if progress.get("full_batch"):  # an epoch a step: "epoch 483/2000" read as a bug
        text = (
            f"Iteration {progress['step']:,}/{progress['total_steps']:,} · full batch of "
            f"{batch_size:,} digits · {rate:,.0f} samples/s"
        )
    else:
        text = (
            f"Epoch {progress['epoch']}/{progress['epochs']} · "
            f"step {progress['step']:,}/{progress['total_steps']:,} · "
            f"{rate:,.0f} samples/s"
        )
    if progress["state"] == "paused":
        if progress.get("resume_wanted"):
            return text + " · resumes where it stopped when the training now running ends"
        if progress.get("parked"):
            return text + " · paused, its slot lent to the next in line meanwhile"
        return text + " · paused"
    return text + f" · ETA {format_seconds(eta)}"


def progress_line(job: Job, progress: dict | None = None) -> str:
    """Return a job's progress line (its progress as read now, unless given)."""
    progress = job.progress() if progress is None else progress
    if job.plan is None:
        return STARTING
    return progress_text(progress, job.steps(-20), job.plan.batch_size)
