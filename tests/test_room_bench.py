"""The room's load bench keeps working: phones over Streamlit's websocket send drawings that the
set holds and the wall counts (a small room here; the bench's default is 100 phones)."""

from __future__ import annotations

import argparse

import pytest

from core.bench.room import run_room_bench, wall_latencies

pytestmark = [pytest.mark.servers, pytest.mark.timeout(180)]


def test_the_kth_drawing_is_on_the_wall_once_the_wall_counts_k():
    sent = [10.0, 10.5, 11.0]
    seen = [(10.2, 0), (10.7, 1), (11.6, 3)]
    assert [round(s, 2) for s in wall_latencies(sent, seen)] == [0.7, 1.1, 0.6]
    assert wall_latencies([12.0], [(11.0, 5)]) == []  # seen before it was sent: not this one


def test_a_small_room_loses_nothing_and_the_wall_shows_every_drawing(data_dir, capsys):
    args = argparse.Namespace(phones=3, per_phone=2, seconds=4.0, data=str(data_dir))
    assert run_room_bench(args) == 0
    report = capsys.readouterr().out
    assert "| 3 | 6 of 6 | 6 | 0 | 0 |" in report, report
