"""My digits at work: scored like a test set, mixed into training, and a quick fine-tune.

Fine-tuning starts from a trained run and takes a few hundred steps on batches that are a quarter
my digits (each drawn afresh with a small random shift, turn and stroke change, so that a few
dozen are not learnt by heart) and three quarters MNIST training digits, so the network does not forget
MNIST while it learns one person's hand. It saves a new run and reports both accuracies
before and after. The my-digits accuracy is measured on the digits it was tuned on: a person's
own set is small, and holding some out would leave too few to learn from; `digits score` on a
second set gives the held-out number.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from core.analysis.evaluation import Evaluation, evaluate_probabilities
from core.data.augment import AugmentConfig, augment_batch
from core.data.datasets import DEFAULT_DATASET
from core.data.mnist import Mnist, Split, normalize, task_test_split, to_float
from core.data.mydigits import DigitSet, InvalidDigits, labelled_for
from core.runs.store import Run, new_run_id, save_run, versions
from core.train.engines import loss_fn

FINE_TUNE_STEPS = 300
FINE_TUNE_LIMITS = {"steps": (10, 5000), "batch_size": (8, 512)}
FINE_TUNE_BATCH = 64
FINE_TUNE_LR = 1e-3  # Adam from a trained network: measured to move in 300 steps without forgetting
MINE_SHARE = 0.25  # of each batch; the rest are MNIST digits, so MNIST is not forgotten
# how my digits are varied each time they are drawn into a batch
MY_DIGITS_AUGMENT = AugmentConfig(
    enabled=True, rotation=10.0, shift=0.08, scale=0.1, shear=5.0, elastic=False, thickness=0.3
)


@dataclass(frozen=True)
class SetScore:
    """A run's scores on a set of my digits, for the digits the run tells apart."""

    evaluation: Evaluation
    images: torch.Tensor  # (N, 28, 28) uint8, the scored digits in the evaluation's order
    skipped: int  # digits whose label the run does not tell apart


def _check_digit_run(run: Run) -> None:
    if run.config.dataset != DEFAULT_DATASET:
        raise InvalidDigits(f"my digits are digits; this run was trained on {run.config.dataset}")


def score_set(run: Run, digit_set: DigitSet) -> SetScore:
    """Return run's accuracy, per-class scores and confusion matrix on a set of my digits."""
    _check_digit_run(run)
    images, labels, skipped = labelled_for(digit_set, run.classes)
    if not len(labels):
        raise InvalidDigits(
            f"{digit_set.name} holds no digits this run tells apart "
            f"({', '.join(map(str, run.classes))})"
        )
    probabilities = run.predict_proba(to_float(images))
    return SetScore(evaluate_probabilities(probabilities, labels, run.classes), images, skipped)


@dataclass(frozen=True)
class FineTuned:
    """What a fine-tune did: the new run, and both accuracies before and after."""

    run_dir: Path
    steps: int
    seconds: float
    mnist_before: float
    mnist_after: float
    mine_before: float
    mine_after: float
    digits: int  # of my digits used


def _accuracy(model, images: torch.Tensor, labels: torch.Tensor, run: Run) -> float:
    probe = replace(run, model=model)
    return evaluate_probabilities(
        probe.predict_proba(to_float(images)), labels, run.classes
    ).accuracy


def check_fine_tune(steps: int, batch_size: int) -> None:
    """Raise ValueError naming the field if steps or batch_size is out of FINE_TUNE_LIMITS."""
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        low, high = FINE_TUNE_LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name}: {value!r} must be a whole number in {low}..{high}")


def fine_tune(
    run: Run,
    digit_set: DigitSet,
    mnist: Mnist,
    runs_dir,
    steps: int = FINE_TUNE_STEPS,
    batch_size: int = FINE_TUNE_BATCH,
    seed: int = 0,
) -> FineTuned:
    """Adapt run's network to a set of my digits, keeping MNIST in each batch; save a new run."""
    check_fine_tune(steps, batch_size)
    _check_digit_run(run)
    mine_images, mine_labels, _ = labelled_for(digit_set, run.classes)
    if not len(mine_labels):
        raise InvalidDigits(f"{digit_set.name} holds no digits this run tells apart")
    pool = task_test_split(mnist, run.classes)  # only for the before/after scores
    train_pool = _train_pool(mnist, run.classes)
    model = copy.deepcopy(run.model).cpu()
    mnist_before = _accuracy(model, pool.images, pool.labels, run)
    mine_before = _accuracy(model, mine_images, mine_labels, run)

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=FINE_TUNE_LR)
    outputs = len(run.classes) if run.spec.output != "single" else 1
    mine_count = max(1, round(batch_size * MINE_SHARE))
    started = time.perf_counter()
    model.train()
    for _ in range(steps):
        pick_mine = torch.randint(len(mine_labels), (mine_count,), generator=generator)
        pick_mnist = torch.randint(len(train_pool), (batch_size - mine_count,), generator=generator)
        mine = augment_batch(to_float(mine_images[pick_mine]), MY_DIGITS_AUGMENT, generator)
        images = torch.cat([mine, to_float(train_pool.images[pick_mnist])])
        labels = torch.cat([mine_labels[pick_mine], train_pool.labels[pick_mnist]])
        loss = loss_fn(
            model(normalize(images, run.config.normalization)), labels, run.config.loss, outputs
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - started
    model.eval()
    mnist_after = _accuracy(model, pool.images, pool.labels, run)
    mine_after = _accuracy(model, mine_images, mine_labels, run)
    run_dir = _save(run, model, digit_set, runs_dir, steps, seconds, mnist_after, mine_after)
    return FineTuned(
        run_dir,
        steps,
        seconds,
        mnist_before,
        mnist_after,
        mine_before,
        mine_after,
        len(mine_labels),
    )


def _train_pool(mnist: Mnist, classes: tuple[int, ...]) -> Split:
    lookup = torch.full((10,), -1, dtype=torch.int64)
    lookup[list(classes)] = torch.arange(len(classes))
    mapped = lookup[mnist.train_labels]
    keep = torch.nonzero(mapped >= 0).flatten()
    return Split(mnist.train_images[keep], mapped[keep], keep)


def _save(run, model, digit_set, runs_dir, steps, seconds, mnist_after, mine_after) -> Path:
    name = f"{run.name} + {digit_set.name}"[:80]
    run_id = new_run_id(f"{run.name}-tuned")
    config = replace(copy.deepcopy(run.config), my_digits=digit_set.name)
    summary = {
        **{
            k: run.summary[k]
            for k in ("parameters", "multiply_adds", "classes")
            if k in run.summary
        },
        "name": name,
        "status": "finished",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "test_accuracy": mnist_after,
        "test_loss": None,
        "val_accuracy": None,
        "seconds": (run.summary.get("seconds") or 0) + seconds,
        "epochs_completed": run.summary.get("epochs_completed", 0),
        "steps": int(run.summary.get("steps", 0)) + steps,
        "device": "cpu",
        "data_source": str(run.summary.get("data_source", "")),
        "versions": versions(),
        "fine_tuned_from": run.run_id,
        "my_digits_accuracy": mine_after,
    }
    return save_run(runs_dir, run_id, run.spec, config, model, summary, run.steps, run.epochs)
