"""One training step of a dense network on one digit, traced stage by stage in float64.

The forward and backward passes are core.train.scratch's own functions (activate, head,
loss_and_grad, head_backward, activate_backward) run on float64 copies of the weights, with
every intermediate kept: what the Inside page's "Step through backprop" panel shows. The same
gradients from torch autograd check them. Nothing here changes the model.

Shapes, as in core.analysis.inside.layer_equations with a batch of one: x (1, in), W (out, in),
b (out,), z = x Wᵀ + b (1, out), a = f(z), δ = dL/dz (1, out).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from core.analysis.evaluation import output_probabilities
from core.analysis.inside import layer_equations
from core.data.mnist import normalize, to_float
from core.runs.store import Run
from core.spec.compatible import check_network_supported
from core.spec.config import LIMITS, LOSSES
from core.spec.image import IMAGE_SIDE
from core.spec.models import ModelSpec
from core.train.engines import loss_fn
from core.train.scratch import (
    activate,
    activate_backward,
    head,
    head_backward,
    loss_and_grad,
)

DTYPE = torch.float64


def norm(tensor: torch.Tensor) -> float:
    """Return the tensor's Euclidean (Frobenius) norm as a float."""
    return float(tensor.norm())


@dataclass(frozen=True)
class ForwardStage:
    """One dense layer on the way forward: z = x Wᵀ + b, a = f(z)."""

    layer: int  # 1-based, as in the equations
    activation: str
    x: torch.Tensor  # (1, in): the digit's pixels for layer 1, else the previous layer's a
    weight: torch.Tensor  # (out, in)
    bias: torch.Tensor  # (out,)
    z: torch.Tensor  # (1, out)
    a: torch.Tensor  # (1, out)


@dataclass(frozen=True)
class BackwardStage:
    """One dense layer on the way back: δ = dL/dz, dL/dW = δᵀ x, dL/db = δ, dL/dx = δ W."""

    layer: int
    dz: torch.Tensor  # (1, out)
    dw: torch.Tensor  # (out, in)
    db: torch.Tensor  # (out,)
    da_prev: torch.Tensor  # (1, in): the previous layer's dL/da; on layer 1, dL/d(pixels)
    new_weight: torch.Tensor | None  # W - lr dL/dW, when a rate was given
    new_bias: torch.Tensor | None


@dataclass(frozen=True)
class StepTrace:
    """Everything one scratch-engine training step computes for one digit, in float64."""

    forward: tuple[ForwardStage, ...]  # first layer first
    output_head: str
    loss_name: str
    output: torch.Tensor  # y = head(z_last) (1, outputs)
    dy: torch.Tensor  # dL/dy (1, outputs)
    loss: float
    probabilities: torch.Tensor  # (classes,), as the Evaluate page reads the output
    label: int  # class index in output order
    backward: tuple[BackwardStage, ...]  # last layer first: the order they are computed
    lr: float | None
    loss_after: float | None  # the same digit's loss after the update, when a rate was given

    @property
    def predicted(self) -> int:
        """Return the class index the network predicts."""
        return int(self.probabilities.argmax())

    def gradients(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Return [(dL/dW, dL/db)] first layer first, as ScratchNet.backward orders them."""
        return [(stage.dw, stage.db) for stage in reversed(self.backward)]


@dataclass(frozen=True)
class StageEquations:
    """core.analysis.inside.layer_equations' lines for a batch of one, grouped by the stage they describe."""

    input: str
    forward: tuple[tuple[str, ...], ...]  # per layer, first first: Z_i (and A_i)
    loss: str  # L and δ of the last layer
    backward: tuple[tuple[str, ...], ...]  # per layer, last first: dL/dW_i, dL/db_i (and δ_{i-1})


def stage_equations(spec: ModelSpec, loss: str) -> StageEquations:
    """Return the Build page's equations for spec with B = 1, split into forward, loss and backward."""
    # the Build page writes the loss as mse or (for nll too) softmax cross-entropy
    lines = layer_equations(spec, 1, "mse" if loss == "mse" else "cross_entropy")
    count = len(spec.dense) + 1
    # layout: X; Z_1, A_1, …, Z_L; the loss; dW_L, δ_{L-1}, …, dW_1 (4L lines in all)
    forward = tuple(
        tuple(lines[2 * i - 1 : min(2 * i + 1, 2 * count)]) for i in range(1, count + 1)
    )
    back = lines[2 * count + 1 :]
    backward = tuple(tuple(back[2 * k : 2 * k + 2]) for k in range(count))
    return StageEquations(lines[0], forward, lines[2 * count], backward)


def equations_are_exact(output_head: str, loss: str) -> bool:
    """Return whether the equations' δ of the last layer is the true one for this head and loss."""
    # they write δ = softmax(Z) - Y (or 2(Ŷ - Y)/k for mse on the raw scores); log_softmax
    # leaves softmax unchanged, so it gives the same δ under cross-entropy and nll
    if loss == "mse":
        return output_head == "logits"
    return output_head in ("logits", "log_softmax")


def _check_step(spec: ModelSpec, model: nn.Sequential, label: int, loss: str, lr) -> list:
    check_network_supported(spec)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if len(linears) != len(spec.dense) + 1:
        raise ValueError(
            f"model: {len(linears)} linear layers, but the spec has {len(spec.dense) + 1}"
        )
    classes = max(spec.outputs, 2)  # one output still tells two digits apart
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < classes:
        raise ValueError(f"label: {label!r} is outside the allowed range 0..{classes - 1}")
    if loss not in LOSSES:
        raise ValueError(f"loss: {loss!r} is not one of {', '.join(LOSSES)}")
    low, high = LIMITS["lr"]
    if lr is not None and (isinstance(lr, bool) or not low <= lr <= high):
        raise ValueError(f"lr: {lr!r} is outside the allowed range {low:g}..{high:g}")
    return linears


def network_input(image: torch.Tensor, normalization: str) -> torch.Tensor:
    """Return a 28×28 digit (uint8, or float in [0, 1]) as the (1, 784) float64 row the net sees."""
    if image.numel() != IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(f"image: shape {tuple(image.shape)} is not one 28×28 digit")
    pixels = image.reshape(1, IMAGE_SIDE, IMAGE_SIDE)
    pixels = to_float(pixels) if pixels.dtype == torch.uint8 else pixels.reshape(1, 1, 28, 28)
    return normalize(pixels.to(DTYPE), normalization).reshape(1, -1)


def _forward(layers, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    stages = []
    for weight, bias, activation in layers:
        z = torch.addmm(bias, x, weight.t())
        a = activate(activation, z)
        stages.append((x, z, a))
        x = a
    return stages


@torch.no_grad()
def trace_step(
    spec: ModelSpec,
    model: nn.Sequential,
    image: torch.Tensor,
    label: int,
    loss: str = "cross_entropy",
    normalization: str = "none",
    lr: float | None = None,
) -> StepTrace:
    """Return one scratch-engine step on one digit, every stage kept, in float64."""
    linears = _check_step(spec, model, label, loss, lr)
    activations = [layer.activation for layer in spec.dense] + ["identity"]
    layers = [
        (m.weight.detach().to(DTYPE), m.bias.detach().to(DTYPE), act)
        for m, act in zip(linears, activations)
    ]
    labels = torch.tensor([label])
    x = network_input(image, normalization)

    passes = _forward(layers, x)
    y = head(spec.output, passes[-1][2])
    value, dy = loss_and_grad(loss, y, labels)
    forward = tuple(
        ForwardStage(i, act, x_in, weight, bias, z, a)
        for i, ((weight, bias, act), (x_in, z, a)) in enumerate(zip(layers, passes), start=1)
    )

    backward = []
    da = head_backward(spec.output, y, dy)  # the last layer's activation is the identity
    for stage in reversed(forward):
        dz = activate_backward(stage.activation, stage.a, da)
        dw, db = dz.t() @ stage.x, dz.sum(dim=0)
        da = dz @ stage.weight  # dL/dx, the previous layer's dL/da
        new_weight = None if lr is None else stage.weight - lr * dw
        new_bias = None if lr is None else stage.bias - lr * db
        backward.append(BackwardStage(stage.layer, dz, dw, db, da, new_weight, new_bias))

    loss_after = None
    if lr is not None:
        updated = [
            (s.new_weight, s.new_bias, f.activation) for s, f in zip(backward[::-1], forward)
        ]
        y_after = head(spec.output, _forward(updated, x)[-1][2])
        loss_after = float(loss_and_grad(loss, y_after, labels)[0])
    return StepTrace(
        forward=forward,
        output_head=spec.output,
        loss_name=loss,
        output=y,
        dy=dy,
        loss=float(value),
        probabilities=output_probabilities(y, spec.output)[0],
        label=label,
        backward=tuple(backward),
        lr=lr,
        loss_after=loss_after,
    )


def trace_run_step(run: Run, image: torch.Tensor, label: int, lr: float | None = None) -> StepTrace:
    """Return trace_step for a saved run, with its loss and normalisation."""
    return trace_step(
        run.spec, run.model, image, label, run.config.loss, run.config.normalization, lr
    )


def autograd_gradients(
    spec: ModelSpec,
    model: nn.Sequential,
    image: torch.Tensor,
    label: int,
    loss: str = "cross_entropy",
    normalization: str = "none",
) -> tuple[float, list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """Return (loss, [(dL/dW, dL/db)] first layer first, dL/d(pixels)) from torch autograd in float64."""
    _check_step(spec, model, label, loss, None)
    reference = copy.deepcopy(model).to(DTYPE).eval()  # the run's own model stays float32
    x = network_input(image, normalization).requires_grad_(True)
    with torch.enable_grad():
        outputs = reference(x.reshape(1, 1, IMAGE_SIDE, IMAGE_SIDE))
        value = loss_fn(outputs, torch.tensor([label]), loss, spec.outputs)
        value.backward()
    linears = [m for m in reference if isinstance(m, nn.Linear)]
    return float(value.detach()), [(m.weight.grad, m.bias.grad) for m in linears], x.grad


def max_gradient_difference(
    trace: StepTrace, reference: list[tuple[torch.Tensor, torch.Tensor]], input_grad=None
) -> float:
    """Return the largest absolute difference between the trace's gradients and reference's."""
    pairs = [
        (mine, theirs)
        for mine_pair, their_pair in zip(trace.gradients(), reference, strict=True)
        for mine, theirs in zip(mine_pair, their_pair)
    ]
    if input_grad is not None:
        pairs.append((trace.backward[-1].da_prev, input_grad))
    return max(float((mine - theirs).abs().max()) for mine, theirs in pairs)


def check_against_autograd(
    spec: ModelSpec,
    model: nn.Sequential,
    image: torch.Tensor,
    trace: StepTrace,
    normalization: str = "none",
) -> float:
    """Return the largest absolute difference between trace's gradients and autograd's."""
    _, reference, input_grad = autograd_gradients(
        spec, model, image, trace.label, trace.loss_name, normalization
    )
    return max_gradient_difference(trace, reference, input_grad)
