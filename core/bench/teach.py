"""python -m core bench --teach: does "Teach it our handwriting" teach the room's handwriting?

A room made of real handwriting nobody here drew: UCI's optdigits (1,797 digits written on paper
by 13 people, core.draw.optdigits), each read as a canvas and sent into a room through the
room's store. The ready model (or --run) is fine-tuned exactly as the wall's button does it
(core.room.teach, a training job from the model's weights, the held-out fifth skipped), and
read before and after on the held-out fifth (never trained on) and on MNIST's test digits.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from unittest.mock import patch

import torch

from core.data.datapack import DataPackError
from core.data.mnist import resolve_data_dir
from core.draw.optdigits import as_canvas, fetch_optdigits, load_optdigits
from core.draw.preprocess import to_mnist
from core.room.limits import RoomLimits
from core.room.scores import held_out_ids
from core.room.store import RoomStore
from core.room.teach import teach_config, teach_name
from core.runs.ready import ready_source
from core.runs.store import load_run

PHONES = 60  # the room's drawings spread over this many phones (40 each at most)


def _accuracy(run, images: torch.Tensor, labels: list[int]) -> float:
    guesses = run.predict_proba(images).argmax(1)  # uint8 digits: it scales them itself
    wanted = torch.tensor([run.classes.index(label) for label in labels])
    return float((guesses == wanted).float().mean())


def run_teach_bench(args) -> int:
    """Fill a room with optdigits, teach the model, print before and after; a JSON line last."""
    try:
        ink, labels = load_optdigits(fetch_optdigits(resolve_data_dir(args.data) / "optdigits"))
    except (DataPackError, OSError) as exc:
        print(f"error: {exc}")
        return 2
    source = Path(args.run) if args.run else ready_source()
    if source is None or not source.is_dir():
        print("error: no model to teach: give --run, or keep assets/ready-model")
        return 2
    with tempfile.TemporaryDirectory(prefix="digitlab-teach-") as folder:
        root = Path(folder)
        env = {"DIGITLAB_ROOMS": str(root / "rooms"), "DIGITLAB_MY_DIGITS": str(root / "digits")}
        with patch.dict(os.environ, env):
            runs = root / "runs"
            model_dir = Path(shutil.copytree(source, runs / source.name))
            result = _teach(load_run(model_dir), ink, labels, str(runs), args.data)
    print(
        f"| room | taught | held out | held-out accuracy before → after | MNIST test before → after "
        f"| fine-tune |\n|---|---:|---:|---:|---:|---:|\n"
        f"| optdigits (13 writers) | {result['taught']:,} | {result['held_out']:,} | "
        f"{result['held_before']:.1%} → {result['held_after']:.1%} | "
        f"{result['mnist_before']:.2%} → {result['mnist_after']:.2%} | {result['seconds']:.0f} s |"
    )
    print(json.dumps(result))
    return 0


def _teach(model, ink, labels, runs_dir: str, data_dir) -> dict:
    from core.train.jobs import JobRegistry

    store = RoomStore(limits=RoomLimits(seconds_between=0.0, max_per_phone=10_000))
    room = store.open_room("bench")
    for number, (digit, label) in enumerate(zip(ink, labels, strict=True)):
        canvas = as_canvas(digit)
        reading = to_mnist(canvas)
        if reading is not None:
            store.send(room.code, f"phone-{number % PHONES}", reading, canvas, int(label))
    drawings = store.drawings(room.code)
    held = held_out_ids(room.code, drawings)
    kept = [d for d in drawings if d.id in held]
    images = torch.from_numpy(store.images(room.code, [d.id for d in kept]))
    config = teach_config(model.config, room.set_name, len(drawings) - len(held))
    started = time.perf_counter()
    job = JobRegistry(executor="thread").submit(
        model.spec, config, name=teach_name(room.code), data_dir=data_dir, runs_dir=runs_dir,
        start_from=str(model.path), skip_digits=tuple(sorted(held)),
    )  # fmt: skip
    if not job.wait(1800) or job.state != "finished":
        raise RuntimeError(f"the fine-tune did not finish: {job.error}")
    taught = load_run(job.run_dir, runs_dir)
    wanted = [d.label for d in kept]
    return {
        "drawings": len(drawings),
        "taught": len(drawings) - len(held),
        "held_out": len(held),
        "held_before": _accuracy(model, images, wanted),
        "held_after": _accuracy(taught, images, wanted),
        "mnist_before": model.summary.get("test_accuracy"),
        "mnist_after": taught.summary.get("test_accuracy"),
        "seconds": time.perf_counter() - started,
        "model": model.run_id,
    }
