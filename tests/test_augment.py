"""core.data.augment: every image gets its own distortion, on the device, within the set ranges."""

from __future__ import annotations

import pytest
import torch

from core.data.augment import AugmentConfig, augment_batch


def digit_batch(n: int = 8) -> torch.Tensor:
    images = torch.zeros(n, 1, 28, 28)
    images[:, :, 6:22, 12:16] = 1.0  # a vertical bar, like a "1"
    return images


def test_disabled_augmentation_returns_the_input():
    images = digit_batch()
    assert augment_batch(images, AugmentConfig(enabled=False)) is images


def test_each_image_of_a_batch_gets_its_own_distortion():
    out = augment_batch(
        digit_batch(), AugmentConfig(enabled=True), torch.Generator().manual_seed(0)
    )
    assert out.shape == (8, 1, 28, 28)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    differences = [(out[0] - out[i]).abs().sum().item() for i in range(1, 8)]
    assert min(differences) > 1.0


def test_zero_ranges_leave_the_digit_in_place():
    cfg = AugmentConfig(enabled=True, rotation=0.0, shift=0.0, scale=0.0)
    out = augment_batch(digit_batch(), cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(out, digit_batch(), atol=1e-5)


def test_thickness_changes_the_amount_of_ink():
    cfg = AugmentConfig(enabled=True, rotation=0.0, shift=0.0, scale=0.0, thickness=1.0)
    out = augment_batch(digit_batch(64), cfg, torch.Generator().manual_seed(0))
    ink = out.sum(dim=(1, 2, 3))
    original = digit_batch(1).sum()
    assert (ink > original + 1).any() and (ink < original - 1).any()


def test_elastic_distortion_is_seeded():
    cfg = AugmentConfig(enabled=True, elastic=True)
    first = augment_batch(digit_batch(), cfg, torch.Generator().manual_seed(3))
    second = augment_batch(digit_batch(), cfg, torch.Generator().manual_seed(3))
    assert torch.equal(first, second)


def test_out_of_range_strength_names_the_field():
    with pytest.raises(ValueError, match="augment.shift"):
        AugmentConfig(enabled=True, shift=0.9).validate()


def test_bold_works_on_the_chosen_digits_alone_with_the_pixels_of_the_whole_batch_way():
    import torch.nn.functional as F

    from core.data.augment import _dilate_round, _embolden

    def whole_batch(images, probability, generator):  # every digit grown, the chosen ones kept
        n = images.shape[0]
        choice = torch.rand(n, generator=generator)
        out = images
        for grow, chosen in ((1.5, choice < probability / 2), (2.2, choice >= probability / 2)):
            chosen = chosen & (choice < probability)
            theta = torch.zeros(n, 2, 3)
            theta[:, 0, 0] = theta[:, 1, 1] = (20 + 2 * grow) / 20
            grid = F.affine_grid(theta, list(images.shape), align_corners=False)
            small = F.grid_sample(images, grid, mode="bilinear", align_corners=False)
            out = torch.where(chosen.view(n, 1, 1, 1), _dilate_round(small, grow), out)
        return out

    images = (torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)) > 0.8).float()
    for probability in (0.0, 0.25, 1.0):
        expected = whole_batch(images, probability, torch.Generator().manual_seed(7))
        got = _embolden(images, probability, torch.Generator().manual_seed(7))
        assert torch.equal(got, expected), probability
    assert not torch.equal(_embolden(images, 1.0, torch.Generator()), images)  # it does embolden
