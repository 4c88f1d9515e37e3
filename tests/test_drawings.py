"""The canvas-like drawing set: deterministic, balanced, the right sizes, and MNIST-like after to_mnist."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core.bench.drawing import STYLE_ORDER, drawing_bench_report, run_drawing_bench
from core.data.augment import AugmentConfig, augment_batch
from core.draw.brush import CANVAS, count_holes
from core.draw.digitpaths import DIGIT_PATHS, STYLE_FAMILIES, STYLED_PATHS
from core.draw.drawings import BLOCKS, make_drawings, style_of
from core.draw.glyphs import find_fonts
from core.draw.preprocess import centre_of_mass, to_mnist
from core.draw.strokes import draw_path, path_variants

N = 60


@pytest.fixture(scope="module")
def drawings():
    return make_drawings(N, seed=5, cache=False)


def test_generation_is_deterministic_for_a_seed(drawings):
    images, labels, kinds = make_drawings(N, seed=5, cache=False)
    assert np.array_equal(images, drawings[0])
    assert np.array_equal(labels, drawings[1]) and kinds == drawings[2]
    other, _, _ = make_drawings(N, seed=6, cache=False)
    assert not np.array_equal(other, images)


def test_images_are_uint8_canvases_with_labels_and_kinds(drawings):
    images, labels, kinds = drawings
    assert images.shape == (N, CANVAS, CANVAS) and images.dtype == np.uint8
    assert labels.shape == (N,) and labels.dtype == np.int64
    assert len(kinds) == N and all(k.startswith(("path:", "font:")) for k in kinds)
    assert all(style_of(k) in STYLE_ORDER for k in kinds)


def test_labels_are_balanced(drawings):
    assert np.bincount(drawings[1], minlength=10).tolist() == [N // 10] * 10


def test_every_drawing_has_ink_of_a_drawable_size(drawings):
    for image, kind in zip(drawings[0], drawings[2]):
        rows = np.flatnonzero((image >= 128).any(axis=1))
        cols = np.flatnonzero((image >= 128).any(axis=0))
        assert image.max() == 255
        shortest = 14 if style_of(kind) == "tiny" else 55
        assert shortest <= rows[-1] - rows[0] + 1 <= CANVAS
        assert cols[-1] - cols[0] + 1 <= CANVAS
        assert (image >= 128).mean() > 0.003


def test_three_blocks_in_ten_come_from_fonts_when_fonts_are_installed(drawings):
    if not find_fonts():
        pytest.skip("no handwriting fonts installed")
    assert BLOCKS.count("font") == 3 and len(BLOCKS) == 10
    fonts = sum(kind.startswith("font:") for kind in drawings[2])
    assert fonts == 10 * sum(BLOCKS[block] == "font" for block in range(N // 10))


def test_the_set_holds_every_style_family():
    _, _, kinds = make_drawings(200, seed=0, cache=False)
    styles = {style_of(kind) for kind in kinds}
    looks = {"plain", "bold", "tiny", "off-centre", "other-shapes"}
    assert looks | set(STYLE_FAMILIES.values()) <= styles


def test_every_digit_has_styled_paths_with_names_of_their_own():
    plain = {variant for paths in DIGIT_PATHS.values() for variant in paths}
    styled = [variant for paths in STYLED_PATHS.values() for variant in paths]
    assert all(STYLED_PATHS[digit] for digit in range(10))
    assert len(set(styled)) == len(styled) and not plain & set(styled)  # style_of needs that
    assert style_of("path:crossed") == "crossed-7" and style_of("path:serif") == "serif-1"
    assert style_of("path:oval") == "plain" and style_of("path:oval:tiny") == "tiny"
    assert style_of("font:Comic Neue Regular") == "font"


@pytest.mark.parametrize("look", ["normal", "bold", "tiny", "off-centre"])
def test_styled_drawings_are_deterministic_for_a_seed(look):
    for digit in range(10):
        for variant in sorted(STYLED_PATHS[digit]):
            first = draw_path(digit, variant, np.random.default_rng([digit, 1]), look)
            again = draw_path(digit, variant, np.random.default_rng([digit, 1]), look)
            assert np.array_equal(first, again), (digit, variant, look)


def test_a_crossed_seven_has_a_bar_through_its_stem():
    for variant, paths in STYLED_PATHS[7].items():
        top_and_stem, bar = (np.array(s) for s in paths())
        bar_row = bar[:, 1].mean()
        stem = top_and_stem[top_and_stem[:, 1] > 0.1]  # the stem, below the top stroke
        stem_col = np.interp(bar_row, stem[:, 1], stem[:, 0])
        # ink on both sides of the stem, a good way out
        assert bar[:, 0].min() < stem_col - 0.08 and bar[:, 0].max() > stem_col + 0.08, variant


def test_serif_ones_have_a_flag_or_a_foot():
    for variant, paths in STYLED_PATHS[1].items():
        every = np.concatenate([np.array(s) for s in paths()])
        top_half, bottom = every[every[:, 1] < 0.5], every[every[:, 1] > 0.98]
        flag = np.ptp(top_half[:, 0]) > 0.2
        foot = len(bottom) > 0 and np.ptp(bottom[:, 0]) > 0.3
        assert flag or foot, variant


def test_bold_lets_loops_fill_in_and_normal_keeps_them_open():
    bold = [
        count_holes(draw_path(8, "figure", np.random.default_rng(s), "bold"), 40) for s in range(8)
    ]
    normal = [count_holes(draw_path(8, "figure", np.random.default_rng(s)), 40) for s in range(4)]
    assert sum(holes == 0 for holes in bold) >= 4  # solid 8s, as a fat brush draws them
    assert all(holes == 2 for holes in normal)


def test_a_bold_drawing_is_still_read_as_a_digit():
    for seed in range(6):
        assert (
            to_mnist(draw_path(5, "round-belly", np.random.default_rng(seed), "bold")) is not None
        )


def test_tiny_digits_are_tiny():
    for digit in range(10):
        rng = np.random.default_rng(digit)
        image = draw_path(digit, path_variants(digit)[0], rng, "tiny")
        rows = np.flatnonzero((image >= 128).any(axis=1))
        assert rows[-1] - rows[0] + 1 <= 60, digit  # 18-45 px, plus the brush
        assert to_mnist(image) is not None


def test_off_centre_digits_sit_against_an_edge():
    for digit in range(10):
        image = draw_path(
            digit, path_variants(digit)[0], np.random.default_rng(digit), "off-centre"
        )
        rows = np.flatnonzero((image >= 128).any(axis=1))
        cols = np.flatnonzero((image >= 128).any(axis=0))
        gaps = (rows[0], CANVAS - 1 - rows[-1], cols[0], CANVAS - 1 - cols[-1])
        assert min(gaps) <= 30, (digit, gaps)


def test_an_unknown_look_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="look:"):
        draw_path(1, "stick", np.random.default_rng(0), "huge")


# --- the augmentations that teach those styles (core.data.augment) -------------------------------


def stick() -> torch.Tensor:
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 4:24, 13:16] = 1.0  # a plain 1: 20 px tall, 3 px wide
    return image


def test_serif_augmentation_gives_a_one_a_flag_or_a_foot():
    cfg = AugmentConfig(enabled=True, rotation=0.0, shift=0.0, scale=0.0, serif=1.0)
    out = augment_batch(stick(), cfg, torch.Generator().manual_seed(0))
    outside = out.clone()
    outside[..., 13:16] = 0.0
    assert float(outside.sum()) > 3.0  # new ink beside the stem
    assert float(out[0, 0, 4:24, 13:16].min()) > 0.99  # the stem itself is kept


def test_serif_augmentation_leaves_wide_digits_alone():
    wide = torch.zeros(1, 1, 28, 28)
    wide[0, 0, 4:7, 4:24] = 1.0  # the bar of a 7
    wide[0, 0, 4:24, 20:23] = 1.0
    cfg = AugmentConfig(enabled=True, rotation=0.0, shift=0.0, scale=0.0, serif=1.0)
    assert torch.equal(augment_batch(wide, cfg, torch.Generator().manual_seed(0)), wide)


def test_bold_augmentation_fattens_strokes_and_keeps_the_size():
    cfg = AugmentConfig(enabled=True, rotation=0.0, shift=0.0, scale=0.0, bold=1.0)
    out = augment_batch(stick(), cfg, torch.Generator().manual_seed(0))
    rows = torch.nonzero(out[0, 0].amax(dim=1) > 0.5).flatten()
    assert float((out > 0.5).sum()) > 1.8 * float((stick() > 0.5).sum())
    assert 19 <= int(rows[-1] - rows[0] + 1) <= 22


def test_stroke_paths_keep_their_loops_open():
    rng = np.random.default_rng(0)
    for digit, loops in [(0, 1), (6, 1), (8, 2), (9, 1)]:
        for variant in DIGIT_PATHS[digit]:
            image = draw_path(digit, variant, rng)
            assert count_holes(image, 40) >= loops - (variant == "open-top"), (digit, variant)


def test_to_mnist_makes_every_drawing_mnist_like(drawings):
    for image in drawings[0]:
        digit = to_mnist(image)
        assert digit is not None
        row, col = centre_of_mass(digit)
        # clamping keeps lopsided digits inside the frame; their centre may sit a little off
        assert abs(row - 14) <= 2 and abs(col - 14) <= 2


def test_the_set_is_cached_and_reloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path))
    first = make_drawings(20, seed=1)
    assert len(list(tmp_path.glob("drawings-*.npz"))) == 1
    again = make_drawings(20, seed=1)
    assert np.array_equal(first[0], again[0]) and first[2] == again[2]


def test_a_bad_size_is_a_value_error_naming_the_field():
    with pytest.raises(ValueError, match="n:"):
        make_drawings(3)


class Uniform:
    """A stand-in run that is equally sure of every digit."""

    classes = tuple(range(10))
    summary = {"test_accuracy": 0.99}

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        return torch.full((len(images), 10), 0.1)


def test_the_bench_reports_accuracy_for_each_run_and_saves_the_hardest(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path))
    guess = SimpleNamespace(
        classes=(3, 7),
        summary={"test_accuracy": 0.9},
        predict_proba=lambda images: torch.tensor([[1.0, 0.0]]).repeat(len(images), 1),
    )
    bench = run_drawing_bench(
        {"uniform": Uniform(), "always-3": guess}, n=20, seed=0, hardest_path=tmp_path / "hard.png"
    )
    scores = {s.name: s for s in bench.scores}
    assert scores["uniform"].mnist_accuracy == pytest.approx(0.1)  # ties go to digit 0: 2 of 20
    assert scores["always-3"].mnist_accuracy == pytest.approx(0.5)  # scored on its 3s and 7s
    assert bench.to_mnist_ms > 0 and bench.empty == 0
    assert (tmp_path / "hard.png").exists()
    report = drawing_bench_report(bench)
    assert "| uniform | 99.0% |" in report and "always-3" in report
