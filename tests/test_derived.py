"""What is derived from a run (test probabilities, the "not a digit" yardstick) is computed once
for the same weights and digits, then read back from the cache folder, by any process."""

from __future__ import annotations

import os

import pytest
import torch

from core.analysis import derived
from core.analysis.novelty import STATS, novelty_for_run
from core.data.mnist import to_float
from core.runs.store import Run
from core.spec.config import TrainConfig
from core.spec.models import DenseLayer, ModelSpec, build


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / derived.FOLDER


def counted():
    """Return a compute function and the list its calls are counted in."""
    calls = []

    def compute():
        calls.append(1)
        return {"x": torch.arange(5.0) * len(calls)}

    return compute, calls


def small_run(seed: int = 0) -> Run:
    """An untrained small dense network (16 hidden features): cheap to fit a yardstick on."""
    torch.manual_seed(seed)
    spec = ModelSpec(dense=[DenseLayer(16)])
    return Run("small", spec, TrainConfig(), {"temperature": 1.0}, build(spec).eval())


def test_a_result_is_computed_once_then_read_back(cache):
    compute, calls = counted()
    first = derived.remembered("thing", "key-1", compute)
    again = derived.remembered("thing", "key-1", compute)
    assert len(calls) == 1 and torch.equal(first["x"], again["x"])
    derived.remembered("thing", "key-2", compute)
    assert len(calls) == 2 and len(list(cache.iterdir())) == 2


def test_a_damaged_or_foreign_file_is_computed_again(cache, monkeypatch):
    compute, calls = counted()
    derived.remembered("thing", "a" * 32 + "-one", compute)
    (path,) = cache.iterdir()
    path.write_bytes(b"half a file")  # a process killed while writing (without the rename)
    assert torch.equal(
        derived.remembered("thing", "a" * 32 + "-one", compute)["x"], 2 * torch.arange(5.0)
    )
    # another key in the same file (as a clash of names would put it): the key inside decides
    monkeypatch.setattr(derived, "result_path", lambda kind, key: path)
    assert torch.equal(
        derived.remembered("thing", "a" * 32 + "-two", compute)["x"], 3 * torch.arange(5.0)
    )
    assert len(calls) == 3


def test_a_cache_folder_that_cannot_be_written_costs_only_the_time(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("DIGITLAB_CACHE", str(blocker))
    compute, calls = counted()
    assert torch.equal(derived.remembered("thing", "key", compute)["x"], torch.arange(5.0))
    assert torch.equal(derived.remembered("thing", "key", compute)["x"], 2 * torch.arange(5.0))


def test_only_the_most_recently_used_files_are_kept(cache, monkeypatch):
    monkeypatch.setattr(derived, "KEEP", 3)
    compute, _ = counted()
    for i in range(5):
        derived.remembered("thing", f"key-{i}", compute)
        for path in cache.iterdir():  # file times in whole seconds on some disks: set them apart
            stamp = path.stat().st_mtime - 10
            os.utime(path, (stamp, stamp))
    derived.remembered("thing", "key-2", compute)  # read: now the most recently used
    derived.remembered("thing", "key-5", compute)
    kept = set(cache.iterdir())
    assert kept == {derived.result_path("thing", f"key-{i}") for i in (2, 4, 5)}


def test_the_digest_follows_the_weights_the_calibration_and_the_digits():
    run = small_run()
    before = derived.run_digest(run)
    assert derived.run_digest(small_run()) == before  # the same weights, another object
    run.summary["temperature"] = 1.5
    assert derived.run_digest(run) != before
    run.summary["temperature"] = 1.0
    with torch.no_grad():
        run.model[1].weight[0, 0] += 1e-6
    assert derived.run_digest(run) != before
    images = torch.zeros(4, 28, 28, dtype=torch.uint8)
    same = derived.digits_digest(images)
    images[3, 5, 5] = 1
    assert derived.digits_digest(images) != same


def test_the_yardstick_read_back_is_the_one_fit(cache, mnist):
    run = small_run()
    fit = novelty_for_run(run, mnist)
    read = novelty_for_run(run, mnist)  # from the file: nothing is fit again
    assert [getattr(read, name) for name in STATS] == [getattr(fit, name) for name in STATS]
    assert torch.equal(read.features, fit.features) and torch.equal(read.reference, fit.reference)
    digits = to_float(mnist.test_images[5000:5500])
    noise = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    for images in (digits, noise):
        assert torch.equal(read.scores(run.model, images), fit.scores(run.model, images))


def test_the_test_probabilities_are_read_back_for_the_same_digits_only(cache, mnist):
    run = small_run()
    images = mnist.test_images[:300]
    first = derived.probabilities_of(run, images)
    assert torch.equal(first, run.predict_proba(to_float(images)))
    assert torch.equal(derived.probabilities_of(run, images), first)
    other = derived.probabilities_of(run, mnist.test_images[300:600])
    assert torch.equal(other, run.predict_proba(to_float(mnist.test_images[300:600])))
    assert len(list(cache.iterdir())) == 2
