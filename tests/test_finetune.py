"""My digits at work: a run scored on them, and a fine-tune that learns a hand without forgetting MNIST."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.data import mydigits
from core.draw.digitpaths import DIGIT_PATHS
from core.draw.preprocess import to_mnist
from core.draw.strokes import draw_path
from core.runs.store import load_run
from core.spec.presets import get_preset
from core.train.finetune import fine_tune, score_set
from tests.conftest import train_tiny_run

SLANT = -20  # degrees: "my hand" leans, which MNIST's writers mostly do not


def write_a_hand(name: str, seed: int, per_digit: int) -> None:
    """Save per_digit drawn digits of each label, all leaning by SLANT, as the set name."""
    rng = np.random.default_rng(seed)
    for digit in range(10):
        variants = sorted(DIGIT_PATHS[digit])
        for k in range(per_digit):
            canvas = Image.fromarray(draw_path(digit, variants[k % len(variants)], rng))
            image = to_mnist(np.asarray(canvas.rotate(SLANT, fillcolor=0)))
            mydigits.save_digit(name, digit, image, canvas=np.asarray(canvas))


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, data_dir):
    """seed-mlp-128 after one epoch on all of MNIST (about 96% on its test set)."""
    spec, config = get_preset("seed-mlp-128").fresh()
    config.epochs = 1
    return train_tiny_run(tmp_path_factory.mktemp("base"), data_dir, "base", spec, config)


def test_a_run_is_scored_on_my_digits_per_digit_with_its_confusion_matrix(base_run):
    write_a_hand("mine", seed=1, per_digit=3)
    score = score_set(load_run(base_run), mydigits.load_set("mine"))
    evaluation = score.evaluation
    assert evaluation.confusion.sum() == 30 and score.skipped == 0
    assert len(evaluation.per_class_accuracy) == 10
    correct = int(evaluation.confusion.diag().sum())
    assert evaluation.accuracy == pytest.approx(correct / 30)
    assert score.images.shape == (30, 28, 28)


def test_fine_tune_learns_my_hand_and_keeps_mnist(base_run, mnist, isolated_folders):
    write_a_hand("tune", seed=1, per_digit=10)
    write_a_hand("held out", seed=2, per_digit=10)  # the same hand, digits it never saw
    run = load_run(base_run)
    held_before = score_set(run, mydigits.load_set("held out")).evaluation.accuracy
    result = fine_tune(run, mydigits.load_set("tune"), mnist, isolated_folders, seed=0)
    tuned = load_run(result.run_dir)
    held_after = score_set(tuned, mydigits.load_set("held out")).evaluation.accuracy
    print(
        f"\nfine-tune: held-out hand {held_before:.1%} -> {held_after:.1%}, "
        f"MNIST {result.mnist_before:.2%} -> {result.mnist_after:.2%}, {result.seconds:.1f} s"
    )
    assert held_after >= held_before + 0.10
    assert result.mine_after > result.mine_before
    assert result.mnist_after >= result.mnist_before - 0.005
    assert tuned.summary["fine_tuned_from"] == run.run_id
    assert tuned.config.my_digits == "tune"
    assert tuned.summary["test_accuracy"] == pytest.approx(result.mnist_after)


def test_fine_tune_settings_are_checked(base_run, mnist, isolated_folders):
    write_a_hand("tune", seed=1, per_digit=1)
    with pytest.raises(ValueError, match="steps"):
        fine_tune(load_run(base_run), mydigits.load_set("tune"), mnist, isolated_folders, steps=0)


def test_the_command_line_lists_exports_imports_and_scores_a_set(base_run, tmp_path, capsys):
    from core.cli import main

    write_a_hand("mine", seed=3, per_digit=1)
    assert main(["digits", "list"]) == 0
    assert "mine" in capsys.readouterr().out
    out = tmp_path / "mine.zip"
    assert main(["digits", "export", "--set", "mine", "--out", str(out)]) == 0
    assert main(["digits", "import", str(out), "--name", "copy"]) == 0
    assert [s.name for s in mydigits.list_sets()] == ["copy", "mine"]
    capsys.readouterr()
    assert main(["digits", "score", "--run", str(base_run), "--set", "copy"]) == 0
    assert "of 10 digits" in capsys.readouterr().out
    assert main(["digits", "score", "--set", "copy"]) == 2  # no run: a message, not a traceback
    assert "--run" in capsys.readouterr().err
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    assert main(["digits", "import", str(tmp_path / "bad.zip")]) == 2
    assert "not a readable zip" in capsys.readouterr().err


def test_a_run_trained_with_my_digits_sees_each_of_them_repeat_times(data_dir, isolated_folders):
    from core.data.mnist import split_sizes

    write_a_hand("mine", seed=4, per_digit=1)
    spec, config = get_preset("seed-mlp-128").fresh()
    config.epochs, config.train_fraction = 1, 0.01
    config.my_digits, config.my_digits_repeat = "mine", 6
    run = load_run(train_tiny_run(isolated_folders, data_dir, "with-mine", spec, config))
    mnist_digits, _ = split_sizes(train_fraction=0.01)
    assert run.summary["samples_seen"] == mnist_digits + 10 * 6
    assert run.config.my_digits == "mine"
