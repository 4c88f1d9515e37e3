"""Batch-wise data augmentation on tensors, on the training device."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

# field -> (lowest, highest): checked here, and the Train page's sliders span the same
AUGMENT_LIMITS: dict[str, tuple[float, float]] = {
    "rotation": (0.0, 45.0),
    "shift": (0.0, 0.3),
    "scale": (0.0, 0.5),
    "shear": (0.0, 30.0),
    "elastic_alpha": (0.0, 6.0),
    "elastic_sigma": (0.5, 8.0),
    "thickness": (0.0, 1.0),
    "bold": (0.0, 1.0),
    "serif": (0.0, 1.0),
}


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
    # probability of a brush 2-3 px fatter all round, the digit shrunk to keep its size: loops
    # fill in, as in a bold drawing that to_mnist scales down
    bold: float = 0.0
    # probability that a narrow digit (a 1, nearly always) gets a flag at its top, a foot at its
    # bottom or both: the serif and flagged 1s people draw, which MNIST's writers rarely did
    serif: float = 0.0

    def validate(self) -> AugmentConfig:
        """Return self if every field is in range, else raise ValueError naming the field."""
        for name, (low, high) in AUGMENT_LIMITS.items():
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
    # imported here: torchvision pulls in torch._dynamo, 1.6 CPU-seconds for every process
    # that reads settings (CLI commands, pages), and only elastic distortion needs it
    from torchvision.transforms.v2 import functional as TF

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


def _dilate_round(images: torch.Tensor, radius: float) -> torch.Tensor:
    """Return images dilated by a round pen of the radius (a square one leaves boxy blobs)."""
    reach = math.ceil(radius)
    side = 2 * reach + 1
    offsets = torch.arange(-reach, reach + 1, device=images.device, dtype=torch.float32)
    inside = (offsets[:, None] ** 2 + offsets[None, :] ** 2).flatten() <= radius**2 + 1e-6
    n, c, h, w = images.shape
    patches = F.unfold(images, side, padding=reach)[:, inside.repeat(c)]
    return patches.view(n, c, -1, h * w).amax(dim=2).view(n, c, h, w)


def _embolden(images: torch.Tensor, probability: float, generator) -> torch.Tensor:
    n, device = images.shape[0], images.device
    choice = torch.rand(n, generator=generator, device=device)
    out = images.clone()
    for grow, chosen in ((1.5, choice < probability / 2), (2.2, choice >= probability / 2)):
        # only the chosen digits: at bold 0.25 the whole batch cost four times as much
        picked = (chosen & (choice < probability)).nonzero().flatten()
        if picked.numel() == 0:
            continue
        some = images[picked]
        # shrink about the centre so the fattened digit keeps MNIST's 20 px box, then dilate
        theta = torch.zeros(len(picked), 2, 3, device=device)
        theta[:, 0, 0] = theta[:, 1, 1] = (20 + 2 * grow) / 20
        grid = F.affine_grid(theta, list(some.shape), align_corners=False)
        small = F.grid_sample(some, grid, mode="bilinear", align_corners=False)
        out[picked] = _dilate_round(small, grow)
    return out


def _segments(shape, start: torch.Tensor, end: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Return (N, 1, H, W) anti-aliased strokes from start to end, (N, 2) (row, column) each."""
    n, _, h, w = shape
    rows = torch.arange(h, device=start.device, dtype=torch.float32) + 0.5
    cols = torch.arange(w, device=start.device, dtype=torch.float32) + 0.5
    pixel = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1)  # (H, W, 2)
    direction = (end - start)[:, None, None, :]
    relative = pixel[None] - start[:, None, None, :]
    along = (relative * direction).sum(-1) / (direction**2).sum(-1).clamp_min(1e-6)
    nearest = start[:, None, None, :] + along.clamp(0.0, 1.0)[..., None] * direction
    distance = (pixel[None] - nearest).norm(dim=-1)
    return (width[:, None, None] / 2 + 0.5 - distance).clamp(0.0, 1.0)[:, None]


def _add_serifs(images: torch.Tensor, probability: float, generator) -> torch.Tensor:
    n, device = images.shape[0], images.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator, device=device) * (high - low) + low

    ink = images[:, 0] > 0.3
    rows = ink.any(dim=2)
    index = torch.arange(images.shape[-1], device=device, dtype=torch.float32)
    big = float(images.shape[-1])
    top = torch.where(rows, index, big).amin(1)
    bottom = torch.where(rows, index, -1.0).amax(1)
    height = bottom - top + 1
    # only sticks, upright or slanted: no row of ink wider than a third of the height. Measured
    # on 5,000 MNIST digits, that picks 506 of 563 ones and 5 other digits, so the label needs
    # no looking at
    across = index.view(1, 1, -1)
    widest = torch.where(
        rows,
        torch.where(ink, across, -1.0).amax(2) - torch.where(ink, across, big).amin(2) + 1,
        0.0,
    ).amax(1)
    chosen = (uniform(0, 1) < probability) & (widest < 0.35 * height) & (height > 4)
    if not chosen.any():
        return images

    def column_at(row: torch.Tensor) -> torch.Tensor:
        band = images[:, 0].gather(
            1,
            row.long().clamp(0, images.shape[-2] - 1).view(n, 1, 1).expand(n, 1, images.shape[-1]),
        )[:, 0]
        return (band * (index + 0.5)).sum(1) / band.sum(1).clamp_min(1e-6)

    pen = uniform(1.6, 3.0)
    head = torch.stack([top + 0.8, column_at(top)], dim=1)
    length, angle = height * uniform(0.2, 0.65), torch.deg2rad(uniform(15.0, 55.0))
    flag_end = head + torch.stack([length * torch.sin(angle), -length * torch.cos(angle)], dim=1)
    foot = torch.stack([bottom + 0.2, column_at(bottom)], dim=1)
    reach = height[:, None] * torch.stack([uniform(0.12, 0.35), uniform(0.12, 0.35)], dim=1)
    foot_left = foot - torch.stack([torch.zeros(n, device=device), reach[:, 0]], dim=1)
    foot_right = foot + torch.stack([torch.zeros(n, device=device), reach[:, 1]], dim=1)
    kind = uniform(0, 1)  # a flag alone, a flag and a foot, or a foot alone
    flag = (chosen & (kind < 0.8)).view(n, 1, 1, 1)
    footed = (chosen & (kind > 0.45)).view(n, 1, 1, 1)
    flags = _segments(images.shape, head, flag_end, pen) * flag
    feet = _segments(images.shape, foot_left, foot_right, pen) * footed
    return torch.maximum(images, torch.maximum(flags, feet))


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
    if cfg.serif > 0:
        out = _add_serifs(out, cfg.serif, generator)
    if cfg.thickness > 0:
        out = _thicken_or_thin(out, cfg.thickness, generator)
    if cfg.bold > 0:
        out = _embolden(out, cfg.bold, generator)
    return out.clamp_(0.0, 1.0)
