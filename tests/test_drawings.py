"""The canvas-like drawing set: deterministic, balanced, the right sizes, and MNIST-like after to_mnist."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core.drawbench import drawing_bench_report, run_drawing_bench
from core.drawings import (
    CANVAS,
    DIGIT_PATHS,
    count_holes,
    draw_path,
    find_fonts,
    make_drawings,
)
from core.preprocess import centre_of_mass, to_mnist

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


def test_labels_are_balanced(drawings):
    assert np.bincount(drawings[1], minlength=10).tolist() == [N // 10] * 10


def test_every_drawing_has_ink_of_a_drawable_size(drawings):
    for image in drawings[0]:
        rows = np.flatnonzero((image >= 128).any(axis=1))
        cols = np.flatnonzero((image >= 128).any(axis=0))
        assert image.max() == 255
        assert 55 <= rows[-1] - rows[0] + 1 <= CANVAS
        assert cols[-1] - cols[0] + 1 <= CANVAS
        assert (image >= 128).mean() > 0.003


def test_half_the_drawings_come_from_fonts_when_fonts_are_installed(drawings):
    if not find_fonts():
        pytest.skip("no handwriting fonts installed")
    fonts = sum(kind.startswith("font:") for kind in drawings[2])
    assert fonts == N // 2


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
