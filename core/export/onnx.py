"""A run as ONNX: raw pixels in, the run's own probabilities out, for ONNX Runtime and others.

The graph holds everything between a drawing and the answer that the app does in PyTorch: the
run's normalisation of the pixels, the network, its output head turned into probabilities
(softmax, log-softmax, sigmoid or a single output) and its calibration temperature. Its input
is `pixels`, a float32 batch (N, 1, 28, 28) with 0 for background and 1 for ink, as MNIST's
digits and the Draw page's preprocessing give them; its output is `probabilities` (N, classes).
The file's metadata says so, with the class names, the run's id and its test accuracy.
"""

from __future__ import annotations

import io
import json
import warnings

import torch
from torch import nn

from core.analysis.evaluation import output_probabilities
from core.data.mnist import NORMALIZATIONS
from core.runs.store import Run
from core.spec.image import IMAGE_SIDE

INPUT, OUTPUT = "pixels", "probabilities"
OPSET = 17  # ONNX Runtime 1.14 and later, onnxruntime-web, and most other runtimes read it
SUFFIX = ".onnx"


class OnnxRefused(ValueError):
    """A run that cannot be written as ONNX; the message says why."""


class _Answer(nn.Module):
    """The run's network between raw pixels and its calibrated probabilities."""

    def __init__(self, run: Run):
        super().__init__()
        self.network = run.model.eval()
        self.mean, self.std = NORMALIZATIONS[run.config.normalization]
        self.normalized = run.config.normalization != "none"
        self.head = run.spec.output
        self.temperature = float(run.summary.get("temperature", 1.0))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels - self.mean) / self.std if self.normalized else pixels
        probabilities = output_probabilities(self.network(x), self.head)
        if self.temperature != 1.0:  # core.analysis.calibration.temper
            log_p = probabilities.clamp_min(1e-30).log() / self.temperature
            probabilities = torch.softmax(log_p, dim=1)
        return probabilities


def metadata(run: Run, class_names: list[str]) -> dict[str, str]:
    """Return what a user of the file needs to know, as the file's metadata."""
    return {
        "input": f"{INPUT}: float32 (N, 1, {IMAGE_SIDE}, {IMAGE_SIDE}), 0 background, 1 ink",
        "normalization": f"inside the graph: {run.config.normalization}",
        "output": f"{OUTPUT}: float32 (N, {len(class_names)}), calibrated "
        f"(temperature {float(run.summary.get('temperature', 1.0)):.4g})",
        "class_names": json.dumps(class_names),
        "run_id": run.run_id,
        "test_accuracy": str(run.summary.get("test_accuracy")),
        "made_by": "Digit Lab (python -m core export --onnx)",
    }


def onnx_bytes(run: Run, class_names: list[str] | None = None) -> bytes:
    """Return the run as an ONNX file, or raise OnnxRefused saying why it cannot be one."""
    try:
        import onnx  # only here: the rest of the app runs without it
    except ImportError:
        raise OnnxRefused("ONNX export needs the onnx package: pip install onnx") from None

    names = class_names or [str(c) for c in run.classes]
    buffer = io.BytesIO()
    example = torch.zeros(1, 1, IMAGE_SIDE, IMAGE_SIDE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                _Answer(run).cpu(),
                (example,),
                buffer,
                dynamo=False,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
                opset_version=OPSET,
            )
    except Exception as exc:  # any exporter failure is this run's: say it, in words
        raise OnnxRefused(
            f"{run.run_id} cannot be written as ONNX: {type(exc).__name__}: {exc}"
        ) from exc
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata(run, names).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"Digit Lab run {run.run_id}: {run.name}"
    return model.SerializeToString()
