""" "That does not look like a digit": real digits pass, drawings that are not digits are
flagged, and `python -m core predict` scripts what the Draw page does (issue 24)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.analysis.novelty import novelty_for_run, verdict
from core.data.mnist import to_float
from core.draw.nondigits import KINDS, make_non_digits
from core.draw.preprocess import to_mnist
from core.draw.strokes import draw_path, path_variants
from core.runs.ready import READY_DIR
from core.runs.store import load_run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ready(mnist):
    """The shipped ready model (files in the repository, whatever the env), and its yardstick."""
    source = sorted(READY_DIR.glob("*/summary.json"))[-1].parent
    run = load_run(source)
    return run, novelty_for_run(run, mnist)


def test_real_digits_pass_and_most_non_digits_are_flagged(ready, mnist):
    run, novelty = ready
    held_out = to_float(mnist.test_images[5000:])  # the half that did not set the threshold
    assert novelty.not_digits(run.model, held_out).float().mean() <= 0.03
    images, kinds = make_non_digits(200, seed=7)
    read = [to_mnist(image) for image in images]
    flagged = novelty.not_digits(run.model, torch.stack([x for x in read if x is not None]))
    # measured 73% on 800 (bench --novelty); a margin for a small sample, far above chance
    assert flagged.float().mean() >= 0.6
    assert set(kinds) == set(KINDS)


def test_the_verdict_says_not_sure_below_half_and_not_a_digit_when_flagged():
    assert verdict(torch.tensor([0.9, 0.1]), False) == "digit"
    assert verdict(torch.tensor([0.45, 0.35, 0.2]), False) == "not sure"
    assert verdict(torch.tensor([0.9, 0.1]), True) == "not a digit"


@pytest.mark.untimed
def test_predict_reads_images_in_order_and_fails_on_a_file_it_cannot_read(tmp_path, data_dir):
    rng = np.random.default_rng(3)
    seven = tmp_path / "seven.png"  # dark ink on white paper, 280 px
    Image.fromarray(255 - draw_path(7, path_variants(7)[0], rng)).save(seven)
    face = tmp_path / "face.png"
    Image.fromarray(make_non_digits(4, seed=2)[0][3]).save(face)  # a smiling face
    empty = tmp_path / "empty.png"
    Image.fromarray(np.full((90, 60), 255, np.uint8)).save(empty)
    broken = tmp_path / "broken.png"
    broken.write_text("not a png")
    files = [seven, face, empty, broken]
    model = sorted(READY_DIR.glob("*/summary.json"))[-1].parent
    command = [sys.executable, "-m", "core", "predict", str(model), *map(str, files)]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DIGITLAB_DATA": str(data_dir)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(f) for f in files]
    assert lines[0]["digit"] == 7 and lines[0]["verdict"] == "digit"
    assert 0 < lines[0]["probability"] < 1 or lines[0]["probability"] == 0.9999
    assert [t["digit"] for t in lines[0]["top3"]][0] == 7 and len(lines[0]["top3"]) == 3
    assert lines[1]["verdict"] == "not a digit"
    assert lines[2]["verdict"] == "not a digit" and lines[2]["why"] == "empty"
    assert "error" in lines[3] and f"cannot read {broken}" in done.stderr


def test_the_draw_page_says_not_a_digit_with_the_closest_guess():
    from ui.shared.widgets import prediction_html

    html = prediction_html([0.97, 0.03], (8, 3), not_digit=True)
    assert "does not look like a digit" in html and ">8</span>" in html and "It is a" not in html
    assert "It is a" in prediction_html([0.97, 0.03], (8, 3))
