"""A shared server takes turns: a few entries per visitor (a race is one), and the queue starts
the job of the visitor whose turn it is, not the one who clicked most (issue 28)."""

from __future__ import annotations

import pytest

from core.events import Done
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.train.control import TrainControl
from core.train.fairness import VISITOR_LIMIT_ENV, entries
from core.train.jobs import JobRegistry


class StartsNothing:
    """An executor that trains nothing: it records the order jobs start in, the test ends them."""

    name = "fake"
    parks = False  # the parking tests (tests/test_parking.py) let it park

    def __init__(self) -> None:
        self.started = []

    def start(self, job):
        self.started.append(job)
        return TrainControl()

    def warm(self, data_dir=None) -> None:
        pass

    def capacity(self) -> int:
        return 1

    def describe(self) -> dict:
        return {"executor": self.name}

    def close(self) -> None:
        pass


def submit(registry: JobRegistry, owner: str, tmp_path, race: str | None = None):
    config = TrainConfig(epochs=1, train_fraction=0.05)
    return registry.submit(ModelSpec(), config, owner, runs_dir=tmp_path, owner=owner, race=race)


def finish(job) -> None:
    job.publish(Done(status="finished"))


@pytest.fixture
def registry():
    registry = JobRegistry(max_concurrent=1, orphan_timeout=3600, executor=StartsNothing())
    yield registry
    registry.close()


def test_thirty_visitors_pressing_start_three_times_all_get_their_first_turn_first(
    registry, tmp_path, monkeypatch
):
    monkeypatch.setenv(VISITOR_LIMIT_ENV, "3")
    # the worst case for first come, first served: one visitor's three clicks before the rest
    eager = [submit(registry, "eager", tmp_path) for _ in range(3)]
    for _ in range(3):  # then thirty visitors press Start three times each
        for visitor in (f"visitor{i:02d}" for i in range(30)):
            submit(registry, visitor, tmp_path)
    started = registry.executor.started
    assert started == [eager[0]]  # one slot
    positions = {job.run_id: registry.queue_position(job) for job in registry.active()}
    while len(started) < 93:
        finish(started[-1])
    turns: dict[str, list[int]] = {}
    for order, job in enumerate(started):
        turns.setdefault(job.owner, []).append(order)
    first, second, third = ([orders[n] for orders in turns.values()] for n in range(3))
    assert max(first) < min(third)  # the bar
    assert max(first) < min(second)  # and more: every first turn before any second
    assert started.index(eager[1]) == 31  # after the thirty others' first, not at once
    # the position each queued job was shown is the order it started in
    for order, job in enumerate(started[1:], start=1):
        assert positions[job.run_id] == order


def test_a_visitor_may_have_two_entries_and_a_race_is_one(registry, tmp_path, monkeypatch):
    monkeypatch.delenv(VISITOR_LIMIT_ENV, raising=False)  # the default: 2
    running = submit(registry, "a", tmp_path)
    race = [submit(registry, "a", tmp_path, race="race-1") for _ in range(5)]  # one entry
    assert entries([running, *race]) == 2
    assert "you already have 2 of your 2 trainings" in registry.entry_problem("a")
    with pytest.raises(ValueError, match="a race counts as one"):
        submit(registry, "a", tmp_path)
    assert registry.entry_problem("b") is None  # another visitor is not held back
    submit(registry, "b", tmp_path)
    finish(running)  # one ends: room for one more
    assert registry.entry_problem("a") is None
    submit(registry, "a", tmp_path)
    # the command line's jobs (no owner) count against nobody
    for _ in range(5):
        registry.submit(ModelSpec(), TrainConfig(epochs=1), "cli", runs_dir=tmp_path)


def test_no_limit_when_set_to_zero(registry, tmp_path, monkeypatch):
    monkeypatch.setenv(VISITOR_LIMIT_ENV, "0")
    for _ in range(6):
        submit(registry, "a", tmp_path)
    assert registry.entry_problem("a") is None


def test_thirty_visitors_pressing_start_three_times_on_the_train_page_take_turns(
    data_dir, tmp_path, monkeypatch
):
    """The same, through the app: thirty AppTest sessions (thirty browsers, thirty owners)
    press Start, then "Queue another training" twice, one visitor after the other."""
    import time
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from core.train import jobs as core_jobs
    from ui.shared import state

    monkeypatch.setenv(VISITOR_LIMIT_ENV, "3")
    monkeypatch.setenv("DIGITLAB_RUNS", str(tmp_path / "runs"))
    executor = StartsNothing()
    shared = JobRegistry(max_concurrent=1, orphan_timeout=3600, executor=executor)
    monkeypatch.setattr(core_jobs, "_registry", shared)
    state.registry.clear()
    app = str(Path(__file__).resolve().parent.parent / "app.py")
    started_at = time.perf_counter()
    visitors = []
    try:
        for number in range(30):
            at = AppTest.from_file(app, default_timeout=120).run()
            at.switch_page("views/3_Train.py").run()
            for press in range(3):  # "Queue another training" while the server is busy
                labels = ("Start training", "Queue another training")
                pressed = next((b for b in at.button if b.label in labels), None)
                assert pressed is not None, (number, press, [b.label for b in at.button])
                pressed.click().run()
                assert not at.exception and not at.error, (number, press)
            visitors.append(at)
        owners = [at.session_state["_session_id"] for at in visitors]
        mine = {o: [job for job in shared.active() if job.owner == o] for o in owners}
        assert len(set(owners)) == 30 and all(len(jobs) == 3 for jobs in mine.values())
        while len(executor.started) < 90:
            finish(executor.started[-1])
        order = {o: [n for n, job in enumerate(executor.started) if job.owner == o] for o in owners}
        firsts, thirds = [turns[0] for turns in order.values()], [t[2] for t in order.values()]
        assert max(firsts) < min(thirds)
        assert [executor.started[n].owner for n in range(30)] == owners  # a turn each, in order
        print(
            f"\n30 visitors, 90 presses through the Train page: {time.perf_counter() - started_at:.1f} s"
        )
    finally:
        for job in shared.active():
            finish(job)
        state.registry.clear()
