"""The scratch engine: a dense network's forward and backward passes written by hand.

No autograd: every function below runs under torch.no_grad() on plain tensors, and each
backward formula sits next to its forward. The weights are the nn.Sequential's own parameter
tensors (shared storage), so both engines start from the same seed and the run store,
validation and predict_proba see every update without a copy.

Shapes: x (N, in), W (out, in), b (out,), z = x @ W.T + b (N, out), a = act(z).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from core.spec.config import TrainConfig
from core.spec.models import ModelSpec

# --- activations: forward a = f(z), backward dz = da * f'(z), written with a where it is cheaper


def activate(name: str, z: torch.Tensor) -> torch.Tensor:
    """Return the activation of z."""
    if name == "relu":
        return z.clamp_min(0)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "tanh":
        return torch.tanh(z)
    return z  # identity


def activate_backward(name: str, a: torch.Tensor, da: torch.Tensor) -> torch.Tensor:
    """Return dL/dz from the activation's output a and dL/da."""
    if name == "relu":
        return da * (a > 0)  # 1 where the unit was on, 0 where it was clamped
    if name == "sigmoid":
        return da * a * (1 - a)  # s' = s (1 - s)
    if name == "tanh":
        return da * (1 - a * a)  # tanh' = 1 - tanh²
    return da  # identity


# --- output heads: y = head(z) on the last layer's scores


def head(name: str, z: torch.Tensor) -> torch.Tensor:
    """Return the network's output from the last layer's scores."""
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "softmax":
        return torch.softmax(z, dim=1)
    if name == "log_softmax":
        return z - z.logsumexp(dim=1, keepdim=True)
    return z  # logits


def head_backward(name: str, y: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Return dL/dz from the head's output y and dL/dy."""
    if name == "sigmoid":
        return dy * y * (1 - y)
    if name == "softmax":
        return y * (dy - (dy * y).sum(dim=1, keepdim=True))  # Jacobian diag(y) - y yᵀ
    if name == "log_softmax":
        return dy - y.exp() * dy.sum(dim=1, keepdim=True)  # Jacobian I - softmax
    return dy  # logits


# --- losses: mean over the batch, with their gradient dL/dy


def targets(labels: torch.Tensor, outputs: int, dtype: torch.dtype) -> torch.Tensor:
    """Return MSE targets: one-hot rows, or 1/0 for the first digit when there is one output."""
    if outputs == 1:
        return (labels == 0).to(dtype).unsqueeze(1)
    return torch.nn.functional.one_hot(labels, outputs).to(dtype)


def loss_and_grad(
    loss: str, y: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (mean loss, dL/dy) for the network's output y and class-index labels."""
    n = len(labels)
    rows = torch.arange(n, device=y.device)
    if loss == "cross_entropy":
        # L = -log softmax(y)[label];  dL/dy = softmax(y) - onehot  (the fused gradient)
        log_p = y - y.logsumexp(dim=1, keepdim=True)
        dy = log_p.exp()
        dy[rows, labels] -= 1
        return -log_p[rows, labels].mean(), dy / n
    if loss == "nll":
        # L = -y[label] (y are log-probabilities);  dL/dy = -onehot
        dy = torch.zeros_like(y)
        dy[rows, labels] = -1 / n
        return -y[rows, labels].mean(), dy
    # mse: L = mean over all N*k entries of (y - t)²;  dL/dy = 2 (y - t) / (N k)
    diff = y - targets(labels, y.shape[1], y.dtype)
    return (diff * diff).mean(), 2 * diff / diff.numel()


@dataclass
class Dense:
    """One linear layer and the activation after it; W and b are the nn.Linear's own tensors."""

    weight: torch.Tensor  # (out, in)
    bias: torch.Tensor  # (out,)
    activation: str

    def __repr__(self) -> str:
        out, inp = self.weight.shape
        return f"Dense({inp}→{out}, {self.activation})"


class ScratchNet:
    """A dense network whose forward, backward and update are written out by hand."""

    def __init__(self, layers: list[Dense], output: str) -> None:
        self.layers, self.output = layers, output

    @classmethod
    def from_model(cls, spec: ModelSpec, model: nn.Sequential) -> ScratchNet:
        """Return a scratch view of build(spec)'s linear layers, sharing their storage."""
        linears = [m for m in model if isinstance(m, nn.Linear)]
        activations = [layer.activation for layer in spec.dense] + ["identity"]
        layers = [
            Dense(m.weight.detach(), m.bias.detach(), act) for m, act in zip(linears, activations)
        ]
        return cls(layers, spec.output)

    def __repr__(self) -> str:
        return f"ScratchNet({', '.join(map(repr, self.layers))}, head={self.output})"

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the output y and every layer's input (kept for the backward pass)."""
        a = x.reshape(len(x), -1)
        inputs = []
        for layer in self.layers:
            inputs.append(a)
            a = activate(layer.activation, torch.addmm(layer.bias, a, layer.weight.t()))
        return head(self.output, a), inputs + [a]

    @torch.no_grad()
    def backward(
        self, y: torch.Tensor, dy: torch.Tensor, saved: list[torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Return [(dL/dW, dL/db)] per layer, from dL/dy and the forward pass's saved tensors."""
        dz = head_backward(self.output, y, dy)
        grads = []
        for i in reversed(range(len(self.layers))):
            layer, x, a = self.layers[i], saved[i], saved[i + 1]
            dz = activate_backward(layer.activation, a, dz)  # identity on the last layer
            grads.append((dz.t() @ x, dz.sum(dim=0)))  # z = x Wᵀ + b
            if i > 0:
                dz = dz @ layer.weight  # dL/dx, the previous layer's dL/da
        return grads[::-1]

    @torch.no_grad()
    def loss_and_gradients(
        self, x: torch.Tensor, labels: torch.Tensor, loss: str
    ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Return (mean loss, outputs, [(dW, db)]) for one batch."""
        y, saved = self.forward(x)
        value, dy = loss_and_grad(loss, y, labels)
        return value, y, self.backward(y, dy, saved)


class SGD:
    """torch.optim.SGD's update by hand: g += wd·w; v = momentum·v + g; w -= lr·v."""

    def __init__(self, net: ScratchNet, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        self.net, self.momentum, self.weight_decay = net, momentum, weight_decay
        self.velocity: list[torch.Tensor] | None = None

    @torch.no_grad()
    def update(self, grads: list[tuple[torch.Tensor, torch.Tensor]], lr: float) -> None:
        """Move every weight and bias one step against its gradient, in place."""
        params = [t for layer in self.net.layers for t in (layer.weight, layer.bias)]
        flat = [g for pair in grads for g in pair]
        if self.weight_decay:
            flat = [g.add(w, alpha=self.weight_decay) for g, w in zip(flat, params)]
        if self.momentum:
            if self.velocity is None:  # the first step's velocity is the gradient itself
                self.velocity = [g.clone() for g in flat]
            else:
                for v, g in zip(self.velocity, flat):
                    v.mul_(self.momentum).add_(g)
            flat = self.velocity
        for w, g in zip(params, flat):
            w.add_(g, alpha=-lr)


def learning_rate(config: TrainConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Return the rate for 0-based step as torch's StepLR / CosineAnnealingLR would set it."""
    if config.schedule == "step":
        return config.lr * config.step_gamma ** (step // (config.step_epochs * steps_per_epoch))
    if config.schedule == "cosine":
        return config.lr * (1 + math.cos(math.pi * step / max(1, total_steps))) / 2
    return config.lr


class ScratchEngine:
    """The trainer's step for engine 'scratch': hand-written forward, backward and SGD."""

    def __init__(
        self,
        model: nn.Sequential,
        spec: ModelSpec,
        config: TrainConfig,
        total_steps: int,
        steps_per_epoch: int,
        step=None,  # the autograd engine's StepSettings: nothing to choose in a hand-written step
    ) -> None:
        self.net = ScratchNet.from_model(spec, model)
        self.sgd = SGD(self.net, config.momentum, config.weight_decay)
        self.config, self.total_steps, self.steps_per_epoch = config, total_steps, steps_per_epoch
        self.steps = 0
        self.fixed_lr: float | None = None  # set by a change while training: the schedule ends
        self._last_grads: list[tuple[torch.Tensor, torch.Tensor]] = []

    def settings(self) -> tuple[float, float]:
        """Return the (rate, momentum) the next step will use."""
        if self.fixed_lr is not None:
            return self.fixed_lr, self.sgd.momentum
        lr = learning_rate(self.config, self.steps, self.total_steps, self.steps_per_epoch)
        return lr, self.sgd.momentum

    def change_settings(self, lr: float | None, momentum: float | None) -> None:
        """Use lr and momentum (None: as they are) from the next step on; the schedule ends here."""
        self.fixed_lr = self.settings()[0] if lr is None else lr
        if momentum is not None:
            self.sgd.momentum = momentum  # a first momentum starts its velocity at the gradient

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Train on one batch; return (loss, outputs, learning rate used)."""
        lr = self.settings()[0]
        loss, outputs, grads = self.net.loss_and_gradients(xb, yb, self.config.loss)
        self.sgd.update(grads, lr)
        self.steps += 1
        self._last_grads = grads
        return loss, outputs, lr

    def grad_norms(self) -> torch.Tensor:
        """Return each layer's weight-gradient norm from the last step."""
        return torch.stack([weight.norm() for weight, _ in self._last_grads])

    def state_dict(self) -> dict:
        """Return what a checkpoint needs beyond the weights: the step count, the velocity, and
        the rate and momentum set while training."""
        return {
            "steps": self.steps,
            "velocity": self.sgd.velocity,
            "fixed_lr": self.fixed_lr,
            "momentum": self.sgd.momentum,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a checkpoint's state_dict()."""
        self.steps = int(state["steps"])
        self.sgd.velocity = state["velocity"]
        self.fixed_lr = state.get("fixed_lr")  # checkpoints before steering lack these two
        self.sgd.momentum = state.get("momentum", self.sgd.momentum)
