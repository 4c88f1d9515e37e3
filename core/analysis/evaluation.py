"""How good is a model: accuracy, per-class scores, confusion matrix and its worst mistakes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.data.mnist import normalize, to_float
from core.spec.budget import EVAL_BATCH

SINGLE_OUTPUT_FLOOR = 1e-4


def single_output_score(outputs: torch.Tensor) -> torch.Tensor:
    """Return the (N, 1) probability of the task's first digit from a single-output network.

    A single output is trained with MSE towards 1 (first digit) and 0 (second), whatever its
    head, so the output itself, clipped to [0, 1], is the score and 0.5 the boundary. Training
    (predicted_class) and evaluation both read it here, so their accuracies agree.
    """
    return outputs.clamp(0.0, 1.0)


def predicted_class(outputs: torch.Tensor) -> torch.Tensor:
    """Return class indices from raw network outputs (cheap: no softmax)."""
    if outputs.shape[1] == 1:
        # single_output_score(outputs) < 0.5 exactly (clipping to [0, 1] moves no value across
        # 0.5, and NaN compares False either way), one operation fewer at every step
        return (outputs[:, 0] < 0.5).long()
    return outputs.argmax(dim=1)


def tallied_scores(tallied: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Return the mean loss and the accuracy of batches tallied as (loss, outputs, labels)."""
    losses, outputs, labels = zip(*tallied)
    sizes = torch.tensor([len(batch) for batch in labels], device=losses[0].device)
    loss_sum = float((torch.stack(losses).float() * sizes).sum())
    predicted = predicted_class(torch.cat(outputs))
    correct = int(torch.eq(predicted, torch.cat(labels)).sum())
    seen = int(sizes.sum())
    return loss_sum / seen, correct / seen


def output_probabilities(outputs: torch.Tensor, output_head: str) -> torch.Tensor:
    """Return (N, classes) probabilities from raw network outputs, whatever the output head."""
    if outputs.shape[1] == 1:
        # a single output scores the task's first digit; the second gets the rest. Kept
        # SINGLE_OUTPUT_FLOOR from 0 and 1: runtimes compute a sigmoid to about 1e-7 (PyTorch
        # gave 0.99999994 where ONNX Runtime gave 1.0, 1.05e-6 where it gave 1.1e-6), and
        # calibration's log-odds turned those last digits into whole percents (issue 26)
        p = single_output_score(outputs).clamp(SINGLE_OUTPUT_FLOOR, 1.0 - SINGLE_OUTPUT_FLOOR)
        return torch.cat([p, 1.0 - p], dim=1)
    if output_head == "logits":
        return torch.softmax(outputs, dim=1)
    if output_head == "log_softmax":
        return outputs.exp()
    if output_head == "sigmoid":
        return outputs / outputs.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return outputs


@torch.no_grad()
def predict_proba(
    model: nn.Module, images: torch.Tensor, normalization: str, output_head: str
) -> torch.Tensor:
    """Return probabilities for (N, 1, 28, 28) images in [0, 1] (or uint8 (N, 28, 28) digits)."""
    if images.dtype == torch.uint8:
        images = to_float(images)
    model.eval()
    device = next(model.parameters()).device
    parts = []
    for start in range(0, images.shape[0], EVAL_BATCH):
        batch = normalize(
            images[start : start + EVAL_BATCH].to(device, torch.float32), normalization
        )
        parts.append(output_probabilities(model(batch), output_head).cpu())
    return torch.cat(parts) if parts else torch.zeros(0, 0)


@dataclass(frozen=True)
class ConfusedPair:
    """One kind of mistake: digits of `true_digit` taken for `predicted_digit`."""

    true_digit: int
    predicted_digit: int
    count: int
    indices: list[int]  # rows of the evaluated set, most confident mistakes first


@dataclass(frozen=True)
class Evaluation:
    """Scores of a model on a labelled set of digits."""

    classes: tuple[int, ...]
    accuracy: float
    loss: float  # mean negative log-likelihood of the true class
    per_class_accuracy: list[float]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    confusion: torch.Tensor  # (k, k) int64, rows = true class, columns = predicted
    probabilities: torch.Tensor  # (N, k)
    predictions: torch.Tensor  # (N,) class indices
    labels: torch.Tensor  # (N,) class indices

    def most_confused(self, top: int = 10) -> list[ConfusedPair]:
        """Return the off-diagonal cells of the confusion matrix, largest first."""
        k = len(self.classes)
        cells = [(int(self.confusion[t, p]), t, p) for t in range(k) for p in range(k) if t != p]
        cells = sorted((c for c in cells if c[0] > 0), reverse=True)[:top]
        return [self.pair(t, p) for _, t, p in cells]

    def pair(self, true_index: int, predicted_index: int) -> ConfusedPair:
        """Return the examples of one confusion-matrix cell, most confident first."""
        mask = (self.labels == true_index) & (self.predictions == predicted_index)
        rows = torch.nonzero(mask).flatten()
        confidence = self.probabilities[rows, predicted_index]
        rows = rows[torch.argsort(confidence, descending=True)]
        return ConfusedPair(
            self.classes[true_index], self.classes[predicted_index], int(len(rows)), rows.tolist()
        )

    def class_counts(self) -> list[int]:
        """Return how many digits of each true class were scored (a class with none has no
        accuracy to show: its recall reads 0 but means 0 of 0)."""
        return self.confusion.sum(dim=1).tolist()

    def row_normalized_confusion(self) -> torch.Tensor:
        """Return the confusion matrix with each row divided by its total (recall per cell)."""
        totals = self.confusion.sum(dim=1, keepdim=True).clamp_min(1)
        return self.confusion.to(torch.float64) / totals


def _safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    return torch.where(
        denominator > 0, numerator / denominator.clamp_min(1), torch.zeros_like(numerator)
    )


def evaluate_probabilities(
    probabilities: torch.Tensor, labels: torch.Tensor, classes: tuple[int, ...]
) -> Evaluation:
    """Return the scores of predicted probabilities against class-index labels."""
    k = len(classes)
    probabilities = probabilities.to(torch.float64)
    predictions = probabilities.argmax(dim=1)
    confusion = torch.bincount(labels * k + predictions, minlength=k * k).reshape(k, k)
    true_positive = confusion.diag().to(torch.float64)
    per_true = confusion.sum(dim=1).to(torch.float64)
    per_predicted = confusion.sum(dim=0).to(torch.float64)
    recall = _safe_divide(true_positive, per_true)
    precision = _safe_divide(true_positive, per_predicted)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    picked = probabilities[torch.arange(len(labels)), labels].clamp_min(1e-12)
    return Evaluation(
        classes=tuple(classes),
        accuracy=float((predictions == labels).to(torch.float64).mean())
        if len(labels)
        else float("nan"),
        loss=float(-picked.log().mean()) if len(labels) else float("nan"),
        per_class_accuracy=recall.tolist(),
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
        confusion=confusion,
        probabilities=probabilities.to(torch.float32),
        predictions=predictions,
        labels=labels,
    )
