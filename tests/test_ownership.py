"""An interrupted run is its visitor's: their browser may continue it at once, anyone else
only once they are gone for good (issue 28)."""

from __future__ import annotations

import os

import pytest

from core.events import Checkpointed
from core.runs.store import read_summary
from core.spec.models import ModelSpec
from core.spec.presets import get_preset
from core.train.control import TrainControl
from core.train.jobs import JobRegistry
from core.train.ownership import OWNER_GONE_SECONDS, continue_refusal, owner_key
from core.train.run import JobRequest, run_job
from tests.test_fairness import StartsNothing

pytestmark = pytest.mark.usefixtures("checkpoint_every_epoch")
SECRET = "the-visitors-secret"


class Crash(Exception):
    """Stands in for a killed server: raised when the first checkpoint lands."""


def crash_after_first_checkpoint(event) -> None:
    if isinstance(event, Checkpointed):
        raise Crash()


def test_who_may_continue_by_the_key_and_the_time():
    summary, saved = {"owner_key": owner_key(SECRET)}, 1_000_000.0
    assert continue_refusal(summary, SECRET, saved, now=saved + 1) is None  # the owner
    refusal = continue_refusal(summary, "another", saved, now=saved + 60)
    assert "only the browser that started it can continue it for 14 more minutes" in refusal
    assert continue_refusal(summary, None, saved, now=saved + 60) == refusal
    assert continue_refusal(summary, None, saved, now=saved + OWNER_GONE_SECONDS) is None
    assert continue_refusal({}, None, saved, now=saved) is None  # the CLI's, or an older run


def test_a_visitors_job_carries_the_key_and_the_command_lines_does_not(tmp_path):
    registry = JobRegistry(max_concurrent=1, executor=StartsNothing())
    visitor = registry.submit(ModelSpec(), get_preset("tiny").fresh()[1], "v", runs_dir=tmp_path,
                              owner="a")  # fmt: skip
    cli = registry.submit(ModelSpec(), get_preset("tiny").fresh()[1], "c", runs_dir=tmp_path)
    assert visitor.request.owner_key == owner_key(visitor.secret)
    assert cli.request.owner_key is None
    registry.close()


def interrupted_run(data_dir, runs_dir, run_id: str):
    """Return the folder of a visitor's run cut short after its first epoch's checkpoint."""
    spec, config = get_preset("seed-mlp-128").fresh()
    config.epochs, config.train_fraction = 3, 0.05
    request = JobRequest(run_id, run_id, spec, config, str(data_dir), str(runs_dir),
                         owner_key=owner_key(SECRET))  # fmt: skip
    run_job(request, crash_after_first_checkpoint, TrainControl())
    summary = read_summary(runs_dir / run_id)
    assert summary["status"] == "interrupted" and summary["owner_key"] == owner_key(SECRET)
    return runs_dir / run_id


def continued(registry, folder, data_dir, **who):
    job = registry.continue_run(folder, data_dir=str(data_dir), runs_dir=folder.parent, **who)
    assert job.active and job.request.resume
    job.stop()
    job.wait(60)
    return job


def test_an_interrupted_visitors_run_continues_for_its_browser_and_later_for_anyone(
    data_dir, tmp_path
):
    registry = JobRegistry(executor="thread")
    mine, left = (interrupted_run(data_dir, tmp_path, name) for name in ("mine", "left"))
    for folder in (mine, left):
        with pytest.raises(ValueError, match="only the browser that started it"):
            registry.continue_run(
                folder, owner="stranger", data_dir=str(data_dir), runs_dir=tmp_path
            )
    continued(registry, mine, data_dir, owner="owner", secret=SECRET)  # its browser: at once
    # the owner did not come back within OWNER_GONE_SECONDS: gone for good, anyone may
    summary = left / "summary.json"
    then = os.stat(summary).st_mtime - OWNER_GONE_SECONDS - 1
    os.utime(summary, (then, then))
    continued(registry, left, data_dir, owner="stranger")
    registry.close()
