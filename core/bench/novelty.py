"""python -m core bench --novelty: how often "that does not look like a digit" is said, on
digits and on drawings that are not digits (core.analysis.novelty, issue 24).

For a run (the ready model unless --run names one): the share flagged of the second half of
MNIST's test digits (the first half set the threshold), of the generated drawing set's digits
(core.draw.drawings) and of generated non-digits by kind (core.draw.nondigits). None of these
drawings was trained on; the non-digits are never used for fitting anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from core.analysis.novelty import FLAG_QUANTILE, novelty_for_run
from core.data.mnist import load_mnist, to_float
from core.draw.drawings import make_drawings
from core.draw.nondigits import KINDS, make_non_digits
from core.draw.preprocess import to_mnist
from core.runs.ready import ready_source
from core.runs.store import load_run

NON_DIGITS, DRAWINGS = 800, 1200


def _prepared(images) -> tuple[torch.Tensor, list[bool]]:
    read = [to_mnist(image) for image in images]
    kept = [x is not None for x in read]
    return torch.stack([x for x in read if x is not None]), kept


def novelty_rates(run, mnist, seed: int = 0) -> dict:
    """Return the shares flagged "not a digit": MNIST test, drawings, non-digits (by kind)."""
    novelty = novelty_for_run(run, mnist)
    classes = torch.tensor(list(run.classes))
    test = mnist.test_images[torch.isin(mnist.test_labels, classes)]
    checked = to_float(test[len(test) // 2 :])
    rates = {"mnist_test": float(novelty.not_digits(run.model, checked).float().mean())}
    drawings, labels, _ = make_drawings(DRAWINGS, seed)
    in_task = torch.isin(torch.from_numpy(labels), classes).numpy()
    digits, _ = _prepared(drawings[in_task])
    rates["drawings"] = float(novelty.not_digits(run.model, digits).float().mean())
    images, kinds = make_non_digits(NON_DIGITS, seed + 1)
    others, kept = _prepared(images)
    kinds = [kind for kind, keep in zip(kinds, kept, strict=True) if keep]
    flagged = novelty.not_digits(run.model, others)
    rates["non_digits"] = float(flagged.float().mean())
    # an empty canvas is refused before any verdict: those count as flagged
    rates["non_digits_unread"] = kept.count(False)
    for kind in KINDS:
        mine = torch.tensor([k == kind for k in kinds])
        rates[kind] = float(flagged[mine].float().mean()) if mine.any() else float("nan")
    return rates


def run_novelty_bench(args) -> int:
    """Print the shares flagged as a table for one run (the ready model by default), JSON last."""
    path = Path(args.run) if getattr(args, "run", None) else ready_source()
    if path is None:
        raise ValueError("no run to measure: name one with --run (the ready model is off)")
    run = load_run(path)
    seed = getattr(args, "seed", None) or 0
    rates = novelty_rates(run, load_mnist(args.data, dataset=run.config.dataset), seed)
    print(
        f"'Not a digit' for {run.run_id} (threshold: {FLAG_QUANTILE:.1%} of held-out digits; "
        f"drawings of seed {seed}, non-digits of seed {seed + 1})\n"
    )
    print("| inputs | flagged |\n|---|---:|")
    print(f"| MNIST test digits (the half not used to set it) | {rates['mnist_test']:.1%} |")
    print(f"| generated drawings of digits ({DRAWINGS}) | {rates['drawings']:.1%} |")
    print(f"| generated non-digits ({NON_DIGITS}) | {rates['non_digits']:.1%} |")
    for kind in KINDS:
        print(f"| … {kind}s | {rates[kind]:.1%} |")
    print(json.dumps({"run": run.run_id, "seed": seed, **rates}))
    return 0
