""" "That does not look like a digit": a score of how much an input is like the digits a run
learnt from, and the verdict the Draw page, the room's phones and `python -m core predict` give.

A network answers every input with ten probabilities, a scribble too (the ready model read
scribbles as "8, 100% sure"). Two signals, each normalised by how it reads on real digits, are
added up (measured on non-digit drawings in core.draw.nondigits, see docs/drawings.md):

- the network's own energy, logsumexp of its raw outputs (Liu et al. 2020, "Energy-based
  Out-of-distribution Detection"): low when no class fits well. For heads without raw logits,
  the log of its largest probability;
- the pixels' likeness to the training digits: the mean cosine similarity of the input to its 5
  nearest among REFERENCE_DIGITS training digits of the run's classes. A face, a star or a scribble
  is far from every digit whatever the network says of it;
- the network's own view of that likeness: the cosine similarity of the input's last hidden
  features to those of its FEATURE_NEIGHBOURS-th nearest among FEATURE_REFERENCE training digits
  (deep nearest neighbours, Sun et al. 2022, "Out-of-Distribution Detection with Deep Nearest
  Neighbors"). A letter the network reads as a 4 still sits apart from every 4 it learnt: this
  one took the share of non-digits flagged from 71% to 81% (docs/drawings.md).

The threshold is the FLAG_QUANTILE of the summed score on held-out digits: the first half of
the test set (the second half is the one a report may quote). Nothing here is computed during
training: it is fit when first needed (8 CPU-seconds for the ready model) and kept, in memory
and in the cache folder (core.analysis.derived).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.analysis import derived
from core.analysis.evaluation import EVAL_BATCH, output_probabilities
from core.analysis.inside import last_linear_index
from core.data.mnist import normalize, to_float

REFERENCE_DIGITS = 10_000
NEIGHBOURS = 5
FEATURE_REFERENCE = 20_000  # training digits whose features are kept (5 MB for 64 features)
FEATURE_NEIGHBOURS = 5
FLAG_QUANTILE = 0.035  # of held-out digits below the threshold (measured: docs/drawings.md)
UNSURE_BELOW = 0.5  # a digit whose most likely class has a smaller (calibrated) probability
VERDICTS = ("digit", "not sure", "not a digit")


def _unit_rows(images: torch.Tensor) -> torch.Tensor:
    rows = images.reshape(len(images), -1).float()
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-6)


@torch.no_grad()
def outputs_and_features(
    model, images: torch.Tensor, normalization: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the raw outputs and the unit-length last hidden features (the input of the last
    Linear layer; the pixels for a network without hidden layers) of images in [0, 1]."""
    model.eval()
    cut = last_linear_index(model)
    outputs, features = [], []
    for i in range(0, len(images), EVAL_BATCH):
        hidden = model[:cut](normalize(images[i : i + EVAL_BATCH], normalization))
        outputs.append(model[cut:](hidden))
        features.append(_unit_rows(hidden.flatten(1)))
    if not outputs:
        return torch.zeros(0, 0), torch.zeros(0, 0)
    return torch.cat(outputs), torch.cat(features)


def fit_score(outputs: torch.Tensor, head: str) -> torch.Tensor:
    """Return how well the best class fits each input: the energy of logits, else log max p."""
    if head == "logits" and outputs.shape[1] > 1:
        return torch.logsumexp(outputs.double(), dim=1)
    return output_probabilities(outputs, head).double().max(dim=1).values.clamp_min(1e-30).log()


@dataclass
class Novelty:
    """A run's yardstick for 'like its digits': the two signals' means and spreads on real
    digits, the reference digits, and the threshold below which an input is not a digit."""

    head: str
    normalization: str
    reference: torch.Tensor  # (R, 784) unit rows of training digits
    fit_mean: float
    fit_std: float
    like_mean: float
    like_std: float
    features: torch.Tensor  # (F, d) unit last hidden features of training digits
    near_mean: float = 0.0
    near_std: float = 1.0
    threshold: float = float("-inf")

    def likeness(self, images: torch.Tensor) -> torch.Tensor:
        """Return each image's mean cosine similarity to its nearest reference digits."""
        rows = _unit_rows(images)
        parts = [
            (rows[i : i + 500] @ self.reference.T).topk(NEIGHBOURS, dim=1).values.mean(1)
            for i in range(0, len(rows), 500)
        ]
        return torch.cat(parts).double() if parts else torch.zeros(0, dtype=torch.float64)

    def nearness(self, features: torch.Tensor) -> torch.Tensor:
        """Return each unit feature row's similarity to its FEATURE_NEIGHBOURS-th nearest
        training digit's features."""
        parts = [
            (features[i : i + 500] @ self.features.T).topk(FEATURE_NEIGHBOURS, dim=1).values[:, -1]
            for i in range(0, len(features), 500)
        ]
        return torch.cat(parts).double() if parts else torch.zeros(0, dtype=torch.float64)

    def signals(self, model, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the three raw signals: the fit, the pixels' likeness, the features' nearness."""
        outputs, features = outputs_and_features(model, images, self.normalization)
        return fit_score(outputs, self.head), self.likeness(images), self.nearness(features)

    def combined(self, fit: torch.Tensor, like: torch.Tensor, near: torch.Tensor) -> torch.Tensor:
        """Return the three signals normalised by how they read on digits, added up."""
        return (
            (fit - self.fit_mean) / self.fit_std
            + (like - self.like_mean) / self.like_std
            + (near - self.near_mean) / self.near_std
        )

    def scores(self, model, images: torch.Tensor) -> torch.Tensor:
        """Return each image's digit-likeness: 0 is a typical digit, far below 0 unlike all."""
        return self.combined(*self.signals(model, images))

    def not_digits(self, model, images: torch.Tensor) -> torch.Tensor:
        """Return a boolean per image: True where it does not look like a digit."""
        return self.scores(model, images) < self.threshold


def reference_features(model, normalization: str, train_images: torch.Tensor) -> torch.Tensor:
    """Return the unit last hidden features of the first FEATURE_REFERENCE training digits,
    rounded to half precision: what the cache keeps (core.analysis.derived) is what was fit."""
    _, features = outputs_and_features(
        model, to_float(train_images[:FEATURE_REFERENCE]), normalization
    )
    return features.half().float()


def fit_novelty(
    model, head: str, normalization: str, train_images: torch.Tensor, held_out: torch.Tensor
) -> Novelty:
    """Return the yardstick fit on a run's training digits (uint8, the reference) and held-out
    digits (uint8: the signals' spreads and the threshold)."""
    reference = _unit_rows(to_float(train_images[:REFERENCE_DIGITS]))
    features = reference_features(model, normalization, train_images)
    novelty = Novelty(head, normalization, reference, 0.0, 1.0, 0.0, 1.0, features)
    fit, like, near = novelty.signals(model, to_float(held_out))
    novelty.fit_mean, novelty.fit_std = float(fit.mean()), float(fit.std().clamp_min(1e-9))
    novelty.like_mean, novelty.like_std = float(like.mean()), float(like.std().clamp_min(1e-9))
    novelty.near_mean, novelty.near_std = float(near.mean()), float(near.std().clamp_min(1e-9))
    novelty.threshold = float(torch.quantile(novelty.combined(fit, like, near), FLAG_QUANTILE))
    return novelty


def verdict(probabilities: torch.Tensor, not_digit: bool) -> str:
    """Return 'not a digit', 'not sure' (the best class below UNSURE_BELOW) or 'digit'."""
    if not_digit:
        return "not a digit"
    return "not sure" if float(probabilities.max()) < UNSURE_BELOW else "digit"


# the yardstick's numbers, in the order the cache keeps them
STATS = ("fit_mean", "fit_std", "like_mean", "like_std", "near_mean", "near_std", "threshold")
# reference features larger than this are not kept but computed again from the model (a
# network without hidden layers: its features are its 784 pixels, which cost nothing)
KEPT_FEATURES_BYTES = 8 * 2**20


def _kept(novelty: Novelty) -> dict[str, torch.Tensor]:
    stats = torch.tensor([getattr(novelty, name) for name in STATS], dtype=torch.float64)
    small = novelty.features.numel() * 2 <= KEPT_FEATURES_BYTES
    return {"stats": stats, **({"features": novelty.features.half()} if small else {})}


def novelty_for_run(run, mnist) -> Novelty:
    """Return the yardstick of a run (core.runs.store.Run) on its dataset's digits of its
    classes: training digits as the reference, the first half of the test digits held out.

    Fit once for the same weights and digits, then read from the cache folder
    (core.analysis.derived): the fit took 8 CPU-seconds for the ready model, at every server
    start before it was kept.
    """
    classes = torch.tensor(list(run.classes))
    train = mnist.train_images[torch.isin(mnist.train_labels, classes)]
    test = mnist.test_images[torch.isin(mnist.test_labels, classes)]
    held_out = test[: len(test) // 2]
    head, normalization = run.spec.output, run.config.normalization
    fitted: list[Novelty] = []

    def fit() -> dict[str, torch.Tensor]:
        fitted.append(fit_novelty(run.model, head, normalization, train, held_out))
        return _kept(fitted[0])

    sizes = (
        f"{REFERENCE_DIGITS}:{FEATURE_REFERENCE}:{NEIGHBOURS}:{FEATURE_NEIGHBOURS}:{FLAG_QUANTILE}"
    )
    key = derived.run_digest(run) + derived.digits_digest(
        train[: max(REFERENCE_DIGITS, FEATURE_REFERENCE)], held_out
    )
    kept = derived.remembered("novelty", f"{key}:{sizes}", fit)
    if fitted:
        return fitted[0]
    features = kept.get("features")
    novelty = Novelty(
        head,
        normalization,
        _unit_rows(to_float(train[:REFERENCE_DIGITS])),
        *([0.0] * 4),
        features=(
            features.float()
            if features is not None
            else reference_features(run.model, normalization, train)
        ),
    )
    for name, value in zip(STATS, kept["stats"].tolist(), strict=True):
        setattr(novelty, name, value)
    return novelty
