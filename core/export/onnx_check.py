"""ONNX Runtime against PyTorch on the 10,000 test digits: the same predictions, close
probabilities (issue 26: the largest difference below 1e-4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.mnist import shared_mnist, task_test_split, to_float
from core.export.onnx import INPUT, OnnxRefused
from core.runs.store import Run

MAX_DIFFERENCE = 1e-4


@dataclass(frozen=True)
class OnnxCheck:
    """How ONNX Runtime's answers compare with PyTorch's on a run's test digits."""

    run_id: str
    digits: int
    disagreements: int  # digits whose predicted class differs
    largest_difference: float  # of any probability

    @property
    def ok(self) -> bool:
        """Return whether they agree everywhere, within MAX_DIFFERENCE."""
        return self.disagreements == 0 and self.largest_difference < MAX_DIFFERENCE

    def text(self) -> str:
        """Return one line for a person."""
        return (
            f"{self.run_id}: {self.digits:,} test digits, {self.disagreements} predictions "
            f"differ, largest probability difference {self.largest_difference:.1e} "
            f"({'ok' if self.ok else 'NOT ok'}: at most {MAX_DIFFERENCE:g})"
        )


def onnx_probabilities(data: bytes, pixels: np.ndarray) -> np.ndarray:
    """Return ONNX Runtime's probabilities for (N, 1, 28, 28) float32 pixels in [0, 1]."""
    try:
        import onnxruntime
    except ImportError:
        raise OnnxRefused("checking needs ONNX Runtime: pip install onnxruntime") from None

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    parts = [
        session.run(None, {INPUT: pixels[start : start + 1000]})[0]
        for start in range(0, len(pixels), 1000)
    ]
    return np.concatenate(parts)


def check_on_test_set(run: Run, data: bytes, data_dir=None) -> OnnxCheck:
    """Compare ONNX Runtime with PyTorch (Run.predict_proba) on the run's test digits."""
    mnist = shared_mnist(data_dir, run.config.dataset)
    test = task_test_split(mnist, tuple(run.classes))
    pixels = to_float(test.images)
    ours = run.predict_proba(pixels).numpy()
    theirs = onnx_probabilities(data, pixels.numpy().astype(np.float32))
    return OnnxCheck(
        run_id=run.run_id,
        digits=len(pixels),
        disagreements=int((ours.argmax(1) != theirs.argmax(1)).sum()),
        largest_difference=float(np.abs(ours - theirs).max()),
    )
