"""Live views of a network while it trains: gradient norms, first-layer weights, feature PCA.

The trainer calls these between steps and emits what they return as events, so a page can draw
the network changing without touching the model itself (it lives in the training thread).
"""

from __future__ import annotations

import torch
from torch import nn

from core.analysis import inside
from core.spec.models import DepthwiseConv2d, ModelSpec

GRAD_POINTS = 300  # at most this many gradient-norm samples per run, however long it is
MAX_WEIGHT_TILES = 64  # the first layer's units shown live; a bigger layer shows its first 64
PROBE_DIGITS = 1000  # test digits projected each epoch


def weighted_layers(model: nn.Sequential) -> list[nn.Module]:
    """Return the Linear and Conv2d modules in order: the layers that own weights."""
    return [m for m in model if isinstance(m, (nn.Linear, nn.Conv2d))]


def layer_labels(model: nn.Sequential) -> list[str]:
    """Return a short name per weighted layer: 'conv 1', 'dense 1', ..., 'output'.

    A separable convolution's two steps are 'conv N depthwise' and 'conv N', N counting the
    spec's convolutions.
    """
    layers = weighted_layers(model)
    labels, convs, denses = [], 0, 0
    for position, module in enumerate(layers):
        if position == len(layers) - 1:
            labels.append("output")
        elif isinstance(module, DepthwiseConv2d):
            labels.append(f"conv {convs + 1} depthwise")  # its 1×1 mix comes next
        elif isinstance(module, nn.Conv2d):
            convs += 1
            labels.append(f"conv {convs}")
        else:
            denses += 1
            labels.append(f"dense {denses}")
    return labels


def grad_every(total_steps: int) -> int:
    """Return how many steps apart gradient norms are sampled (1 for short runs)."""
    return max(1, -(-total_steps // GRAD_POINTS))


def weight_grad_norms(layers: list[nn.Module]) -> torch.Tensor:
    """Return the L2 norm of each layer's weight gradient (1-D, on the layers' device)."""
    norms = [
        m.weight.grad.norm() if m.weight.grad is not None else m.weight.new_zeros(())
        for m in layers
    ]
    return torch.stack(norms).detach()


@torch.no_grad()
def weight_snapshot(model: nn.Sequential, spec: ModelSpec) -> torch.Tensor:
    """Return the first layer's weights as images on the CPU, at most MAX_WEIGHT_TILES of them."""
    return inside.first_layer_weights(model, spec)[:MAX_WEIGHT_TILES].clone()


def _learns_features(model: nn.Sequential) -> bool:
    """Return whether anything before the last Linear layer has weights (a hidden layer)."""
    head = inside.last_linear_index(model)
    return any(True for _ in model[:head].parameters())


class FeatureProjector:
    """Projects a fixed set of digits' last-hidden features to 2-D, epoch after epoch.

    PCA's axes are only defined up to sign, so each projection is flipped to agree with the one
    before it: otherwise the clusters would jump to the mirror side between frames.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels.cpu()
        self._previous: torch.Tensor | None = None
        self._fixed: tuple[torch.Tensor, torch.Tensor] | None = None

    def project(self, model: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Return (coords (N, 2), explained variance ratio) for the model as it is now.

        None when the features are not finite (a diverging run): there is nothing to project.
        """
        if self._fixed is not None:
            return self._fixed
        was_training = model.training
        features = inside.last_hidden_features(model, self.images)
        model.train(was_training)
        if not torch.isfinite(features).all():
            return None
        coords, explained = inside.principal_axes(features)
        if self._previous is not None and self._previous.shape == coords.shape:
            agreement = (coords * self._previous).sum(dim=0)
            coords = coords * torch.where(agreement < 0, -1.0, 1.0)
        self._previous = coords
        if not _learns_features(model):
            # no hidden layer (seed-3v7): the "features" are the digits, the same every time
            self._fixed = coords, explained
        return coords, explained
