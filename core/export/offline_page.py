"""Take it home: one HTML file that reads drawn digits with a run's network, offline, anywhere.

The file holds the network as a list of operations with their weights (float32, base64) and
about 300 lines of JavaScript of our own (offline_page.html): a canvas for a finger or a mouse,
the Draw page's preprocessing (core.draw.preprocess: ink, crop, scale to 20 px with PyTorch's
antialiased bilinear weights, centre of mass, Python's rounding), every layer the builder
offers, the output head, the single-output floor and the calibration temperature. No runtime
is vendored: the app's networks need a dozen operations, and their own code is a few kB where
onnxruntime-web's WebAssembly is about 10 MB before base64 (docs/take-it-home.md).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.analysis.evaluation import SINGLE_OUTPUT_FLOOR
from core.data.datasets import get_dataset
from core.data.mnist import NORMALIZATIONS
from core.runs.store import Run

TEMPLATE = Path(__file__).with_name("offline_page.html")
SUFFIX = ".html"
ACTIVATIONS = {
    nn.ReLU: "relu", nn.GELU: "gelu", nn.ELU: "elu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid",
    nn.Identity: "identity", nn.Dropout: "identity", nn.Dropout2d: "identity",
    nn.Flatten: "identity",  # the page keeps activations flat, in PyTorch's (C, H, W) order
}  # fmt: skip


class OfflineRefused(ValueError):
    """A run whose network the offline page cannot compute; the message says which layer."""


def _floats(tensor: torch.Tensor) -> str:
    array = tensor.detach().cpu().to(torch.float32).numpy().astype("<f4")
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()


def _conv(module: nn.Conv2d) -> dict:
    kernel = module.kernel_size[0]
    if module.padding == "same":  # even kernels: PyTorch pads the extra pixel after
        before = (kernel - 1) // 2
        pad = [before, kernel - 1 - before]
    else:
        pad = [module.padding[0], module.padding[0]]
    return {
        "op": "conv", "out": module.out_channels, "in": module.in_channels,
        "k": kernel, "pad": pad, "groups": module.groups, "w": _floats(module.weight),
        "b": _floats(module.bias) if module.bias is not None else None,
    }  # fmt: skip


def _norm(module: nn.modules.batchnorm._BatchNorm) -> dict:
    # eval mode: one scale and one shift per channel
    scale = module.weight / torch.sqrt(module.running_var + module.eps)
    return {"op": "affine", "scale": _floats(scale),
            "shift": _floats(module.bias - module.running_mean * scale)}  # fmt: skip


def operation(module: nn.Module) -> dict:
    """Return one layer as the page's operation, or raise OfflineRefused."""
    kind = type(module)
    if kind in ACTIVATIONS:
        return {"op": ACTIVATIONS[kind]}
    if isinstance(module, nn.Conv2d):
        return _conv(module)
    if isinstance(module, nn.Linear):
        return {"op": "linear", "out": module.out_features, "in": module.in_features,
                "w": _floats(module.weight), "b": _floats(module.bias)}  # fmt: skip
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return _norm(module)
    if isinstance(module, nn.LeakyReLU):
        return {"op": "leaky_relu", "slope": module.negative_slope}
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)) and module.kernel_size in (2, (2, 2)):
        return {"op": "maxpool" if isinstance(module, nn.MaxPool2d) else "avgpool"}
    if isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1)):
        return {"op": "global_avg"}
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        return {"op": "softmax" if isinstance(module, nn.Softmax) else "log_softmax"}
    raise OfflineRefused(f"the offline page cannot compute a {kind.__name__} layer")


def page_model(run: Run, class_names: list[str]) -> dict:
    """Return everything the page needs to read a digit as the run does."""
    if not get_dataset(run.config.dataset).drawable:
        raise OfflineRefused(
            f"{run.run_id} reads {get_dataset(run.config.dataset).title}: the offline page is "
            "for drawn digits, and sketches of clothes are far from its photos"
        )
    if not isinstance(run.model, nn.Sequential):
        raise OfflineRefused(f"{run.run_id}: the offline page runs layer-by-layer networks only")
    mean, std = NORMALIZATIONS[run.config.normalization]
    return {
        "ops": [operation(module) for module in run.model],
        "normalization": None if run.config.normalization == "none" else [mean, std],
        "head": run.spec.output,
        "temperature": float(run.summary.get("temperature", 1.0)),
        "floor": SINGLE_OUTPUT_FLOOR,
        "classes": [str(name) for name in class_names],
        "run_id": run.run_id,
        "name": run.name,
        "test_accuracy": run.summary.get("test_accuracy"),
    }


def offline_page(run: Run, class_names: list[str] | None = None) -> str:
    """Return the run's one-file offline draw page, or raise OfflineRefused saying why not."""
    model = page_model(run, class_names or [str(c) for c in run.classes])
    accuracy = model["test_accuracy"]
    subtitle = f"{run.name} · {accuracy:.2%} on MNIST's test digits" if accuracy else run.name
    # no "<" at all in the JSON: nothing inside can close or confuse the script element
    payload = json.dumps(model, separators=(",", ":")).replace("<", "\\u003c")
    return (
        TEMPLATE.read_text()
        .replace("{{TITLE}}", html.escape(f"Digit Lab · {run.name}"))
        .replace("{{SUBTITLE}}", html.escape(subtitle))
        .replace("{{MODEL}}", payload)
    )
