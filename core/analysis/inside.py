"""Look inside a built network: first-layer weights, activations, saliency, PCA and equations."""

from __future__ import annotations

import torch
from torch import nn

from core.spec.image import IMAGE_SIDE
from core.spec.models import ModelSpec, flat_features


def first_layer_weights(model: nn.Sequential, spec: ModelSpec) -> torch.Tensor:
    """Return the first layer's weights as images: (units, 28, 28) dense or (filters, k, k) conv."""
    for module in model:
        if isinstance(module, nn.Conv2d):
            weight = module.weight.detach().cpu()
            return weight[:, 0].clone()  # the first convolution sees one input channel
        if isinstance(module, nn.Linear):
            weight = module.weight.detach().cpu()
            if weight.shape[1] != IMAGE_SIDE * IMAGE_SIDE:
                raise ValueError(f"first Linear layer takes {weight.shape[1]} inputs, not 784")
            return weight.reshape(-1, IMAGE_SIDE, IMAGE_SIDE).clone()
    raise ValueError("model has no Linear or Conv2d layer")


def _module_name(index: int, module: nn.Module) -> str:
    return f"{index}: {type(module).__name__}"


@torch.no_grad()
def layer_activations(model: nn.Sequential, image: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Return every module's output (batch dimension dropped) for one (1, 1, 28, 28) input."""
    model.eval()
    outputs = []
    x = image
    for index, module in enumerate(model):
        x = module(x)
        outputs.append((_module_name(index, module), x[0].detach().cpu()))
    return outputs


def last_linear_index(model: nn.Sequential) -> int:
    """Return the position of the network's last Linear layer (its output layer)."""
    indices = [i for i, module in enumerate(model) if isinstance(module, nn.Linear)]
    if not indices:
        raise ValueError("model has no Linear layer")
    return indices[-1]


SMOOTH_SAMPLES, SMOOTH_NOISE = 24, 0.15  # SmoothGrad's copies, and their noise (of the range)


def saliency(
    model: nn.Sequential, image: torch.Tensor, class_index: int, samples: int = SMOOTH_SAMPLES
) -> torch.Tensor:
    """Return |d score / d pixel| (28, 28) for the class's pre-softmax score (last Linear output),
    averaged over noisy copies of the digit (SmoothGrad, Smilkov et al. 2017; samples=1: the
    plain gradient). One gradient is speckled noise to a student; the average keeps the strokes
    and the places where ink would change the answer."""
    if samples > 1:
        noisy = image.detach().to(torch.float32)
        spread = SMOOTH_NOISE * float(noisy.max() - noisy.min()) or SMOOTH_NOISE
        generator = torch.Generator().manual_seed(0)  # the same picture for the same digit
        total = torch.zeros(IMAGE_SIDE, IMAGE_SIDE)
        for _ in range(samples):
            copy = noisy + spread * torch.randn(noisy.shape, generator=generator)
            total += saliency(model, copy, class_index, samples=1)
        return total / samples
    model.eval()
    last = last_linear_index(model)
    outputs = model[last].out_features
    if outputs == 1 and class_index in (0, 1):
        # one output scores the first digit against the second: both classes share its gradient
        class_index = 0
    if not 0 <= class_index < outputs:
        raise ValueError(f"class_index: {class_index} is outside 0..{outputs - 1}")
    x = image.detach().clone().to(torch.float32).requires_grad_(True)
    # the score before softmax: after it, one class's gain is every other class's loss
    scores = model[: last + 1](x)
    scores[0, class_index].backward()
    return x.grad.detach().abs().reshape(IMAGE_SIDE, IMAGE_SIDE)


@torch.no_grad()
def last_hidden_features(model: nn.Sequential, images: torch.Tensor) -> torch.Tensor:
    """Return the input to the final Linear layer for (N, 1, 28, 28) normalised images: (N, d)."""
    model.eval()
    return model[: last_linear_index(model)](images).flatten(1).cpu()


def pca_2d(features: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (coords (N, k), explained variance ratio (k,)) of features (N, d) by SVD."""
    data = features.to(torch.float64)
    if data.ndim != 2 or data.shape[0] < 2:
        raise ValueError(f"features: need shape (N >= 2, d), got {tuple(features.shape)}")
    centred = data - data.mean(0, keepdim=True)
    _, singular, right = torch.linalg.svd(centred, full_matrices=False)
    k = min(k, singular.numel())
    coords = centred @ right[:k].T
    variance = singular**2
    total = variance.sum()
    ratio = variance[:k] / total if total > 0 else torch.zeros(k, dtype=torch.float64)
    return coords.to(torch.float32), ratio.to(torch.float32)


def principal_axes(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (coords (N, ≤2), explained variance ratio (≤2,)) of features (N, d), as pca_2d,
    faster: for the views drawn while a run trains (the live PCA, the replay's frames).

    By the eigenvectors of the smaller of the d × d and N × N products, in float32: measured
    on 2 CPU cores, 2 ms against 25 ms for pca_2d's float64 SVD of 500 digits' 128 features,
    and plenty for a picture; 26 ms against 129 ms for 1,000 digits' 784 inputs (a network with
    no hidden layer), which made the live PCA most of seed-3v7's overhead (issue 22).
    """
    centred = features.to(torch.float32)
    centred = centred - centred.mean(0, keepdim=True)
    total = centred.pow(2).sum()
    if centred.shape[1] <= centred.shape[0]:
        values, vectors = torch.linalg.eigh(centred.T @ centred)  # ascending
        coords = centred @ vectors[:, -2:].flip(1)
    else:
        values, vectors = torch.linalg.eigh(centred @ centred.T)
        coords = vectors[:, -2:].flip(1) * values[-2:].flip(0).clamp_min(0).sqrt()
    top = values[-2:].flip(0).clamp_min(0)
    explained = top / total if total > 0 else torch.zeros_like(top)
    return coords.to(torch.float32), explained.to(torch.float32)


# --- equations for the Build page's "under the hood" panel ------------------------------

_DERIVATIVES = {
    "relu": r"\mathbf{1}[Z > 0]",
    "sigmoid": r"\sigma(Z)\,(1 - \sigma(Z))",
    "tanh": r"(1 - \tanh^2(Z))",  # in brackets: it follows a ⊙
}


def _activation_name(name: str) -> str:
    if name == "sigmoid":
        return r"\sigma"
    escaped = name.replace("_", r"\_")
    return rf"\mathrm{{{escaped}}}"


def layer_equations(
    spec: ModelSpec, batch_size: int | str = "B", loss: str = "cross_entropy"
) -> list[str]:
    """Return LaTeX lines for a dense network's forward pass, loss gradient and backward pass."""
    if spec.conv:
        raise ValueError("spec.conv: the equations cover dense networks only (no convolutions)")
    batch = str(batch_size)
    sizes = [flat_features(spec), *(layer.width for layer in spec.dense), spec.outputs]
    count = len(sizes) - 1
    lines = [rf"X = A_0: {batch} \times {sizes[0]}"]
    for i in range(1, count + 1):
        fan_in, fan_out = sizes[i - 1], sizes[i]
        lines.append(
            rf"Z_{i} = A_{{{i - 1}}} W_{i}^\top + b_{i}"
            rf"\quad W_{i}: {fan_out} \times {fan_in},\; b_{i}: {fan_out},"
            rf"\; Z_{i}: {batch} \times {fan_out}"
        )
        if i < count:
            f = _activation_name(spec.dense[i - 1].activation)
            lines.append(rf"A_{i} = {f}(Z_{i})\quad A_{i}: {batch} \times {fan_out}")
    top, classes = count, spec.outputs
    if loss == "mse":
        lines.append(
            rf"L = \frac{{1}}{{{batch} \cdot {classes}}} \sum (\hat Y - Y)^2,\quad"
            rf"\delta_{top} = \frac{{\partial L}}{{\partial Z_{top}}}"
            rf" = \frac{{2(\hat Y - Y)}}{{{batch} \cdot {classes}}}"
            rf"\quad ({batch} \times {classes})"
        )
    else:
        # one digit (the backprop walk-through): no 1/1 in front
        mean = "" if batch == "1" else rf"\frac{{1}}{{{batch}}} "
        delta = (
            rf"\mathrm{{softmax}}(Z_{top}) - Y"
            if batch == "1"
            else rf"\frac{{\mathrm{{softmax}}(Z_{top}) - Y}}{{{batch}}}"
        )
        lines.append(
            rf"L = -{mean}\sum Y \log \mathrm{{softmax}}(Z_{top}),\quad"
            rf"\delta_{top} = \frac{{\partial L}}{{\partial Z_{top}}} = {delta}"
            rf"\quad ({batch} \times {classes})"
        )
    for i in range(count, 0, -1):
        fan_in, fan_out = sizes[i - 1], sizes[i]
        lines.append(
            rf"\frac{{\partial L}}{{\partial W_{i}}} = \delta_{i}^\top A_{{{i - 1}}}"
            rf"\quad ({fan_out} \times {batch}) \cdot ({batch} \times {fan_in})"
            rf" = {fan_out} \times {fan_in},\qquad"
            rf"\frac{{\partial L}}{{\partial b_{i}}} = \mathbf{{1}}^\top \delta_{i}: {fan_out}"
        )
        if i > 1:
            name = spec.dense[i - 2].activation
            derivative = _DERIVATIVES.get(name, rf"{_activation_name(name)}'(Z_{{{i - 1}}})")
            derivative = derivative.replace("(Z)", f"(Z_{{{i - 1}}})").replace(
                "Z >", f"Z_{{{i - 1}}} >"
            )
            lines.append(
                rf"\delta_{{{i - 1}}} = (\delta_{i} W_{i}) \odot {derivative}"
                rf"\quad ({batch} \times {fan_out}) \cdot ({fan_out} \times {fan_in})"
                rf" = {batch} \times {fan_in}"
            )
    return lines
