"""Batch-wise data augmentation on tensors, on the training device."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF


@dataclass
class AugmentConfig:
    """Random distortions drawn independently for every image of a batch."""

    enabled: bool = False
    rotation: float = 12.0  # degrees, uniform in [-rotation, rotation]
    shift: float = 0.12  # fraction of the image side, in each direction
    scale: float = 0.12  # relative, uniform in [1 - scale, 1 + scale]
    shear: float = 0.0  # degrees
    elastic: bool = False
    elastic_alpha: float = 1.5  # displacement in pixels after smoothing
    elastic_sigma: float = 3.0  # smoothing of the displacement field, pixels
    thickness: float = 0.0  # probability of a random dilation or erosion of the strokes

    def validate(self) -> AugmentConfig:
        """Return self if every field is in range, else raise ValueError naming the field."""
        limits = {
            "rotation": (0.0, 45.0),
            "shift": (0.0, 0.3),
            "scale": (0.0, 0.5),
            "shear": (0.0, 30.0),
            "elastic_alpha": (0.0, 6.0),
            "elastic_sigma": (0.5, 8.0),
            "thickness": (0.0, 1.0),
        }
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not low <= value <= high
            ):
                raise ValueError(
                    f"augment.{name}: {value!r} is outside the allowed range {low}..{high}"
                )
        for name in ("enabled", "elastic"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"augment.{name}: {getattr(self, name)!r} must be true or false")
        return self

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return asdict(self)


def _affine_matrices(n: int, cfg: AugmentConfig, generator, device) -> torch.Tensor:
    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator, device=device) * (high - low) + low

    angle = uniform(-cfg.rotation, cfg.rotation) * (math.pi / 180)
    shear = uniform(-cfg.shear, cfg.shear) * (math.pi / 180)
    scale = uniform(1 - cfg.scale, 1 + cfg.scale)
    # affine_grid maps output to input coordinates in [-1, 1]: a shift of s of the side is 2s
    tx = uniform(-cfg.shift, cfg.shift) * 2
    ty = uniform(-cfg.shift, cfg.shift) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin + torch.tan(shear) / scale
    theta[:, 0, 2] = tx
    theta[:, 1, 0] = sin
    theta[:, 1, 1] = cos
    theta[:, 1, 2] = ty
    return theta


def _elastic_offsets(shape, cfg: AugmentConfig, generator, device) -> torch.Tensor:
    n, _, h, w = shape
    noise = torch.rand(n, 2, h, w, generator=generator, device=device) * 2 - 1
    kernel = int(2 * math.ceil(3 * cfg.elastic_sigma) + 1)
    smooth = TF.gaussian_blur(noise, [kernel, kernel], [cfg.elastic_sigma, cfg.elastic_sigma])
    # rescale so the typical displacement is elastic_alpha pixels, whatever the smoothing
    smooth = smooth / smooth.abs().mean().clamp_min(1e-6) * cfg.elastic_alpha
    return (smooth * (2.0 / w)).permute(0, 2, 3, 1)


def _thicken_or_thin(images: torch.Tensor, probability: float, generator) -> torch.Tensor:
    n = images.shape[0]
    choice = torch.rand(n, generator=generator, device=images.device)
    dilated = F.max_pool2d(images, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-images, 3, stride=1, padding=1)
    # soften the morphology so a full pixel of growth is not the only option
    dilated = 0.5 * (images + dilated)
    thicker = (choice < probability / 2).view(n, 1, 1, 1)
    thinner = ((choice >= probability / 2) & (choice < probability)).view(n, 1, 1, 1)
    return torch.where(thicker, dilated, torch.where(thinner, eroded, images))


def augment_batch(
    images: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Return a randomly distorted copy of (N, 1, 28, 28) images with pixels in [0, 1]."""
    if not cfg.enabled:
        return images
    # torchvision's v2 transforms draw one set of parameters per call, which would move a whole
    # batch identically; per-image matrices through affine_grid keep the batch on the device
    # and give every digit its own distortion.
    theta = _affine_matrices(images.shape[0], cfg, generator, images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    if cfg.elastic and cfg.elastic_alpha > 0:
        grid = grid + _elastic_offsets(images.shape, cfg, generator, images.device)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if cfg.thickness > 0:
        out = _thicken_or_thin(out, cfg.thickness, generator)
    return out.clamp_(0.0, 1.0)
