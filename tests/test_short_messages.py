"""A message quotes at most a line of the value it refuses, however long the link (issue 28)."""

from __future__ import annotations

from core.spec.config import TrainConfig
from core.spec.quote import MAX_QUOTED_CHARS, quoted
from ui.shared import share, talk

HUGE = "x" * 100_000


def test_a_long_value_is_quoted_as_a_line_with_its_length():
    assert quoted("abc") == "'abc'"
    text = quoted(HUGE)
    assert len(text) < MAX_QUOTED_CHARS + 30 and text.endswith("… (100,000 characters)")


def test_a_link_with_a_100_kb_setting_says_so_in_a_line():
    for key in ("dense", "lr"):
        _, problems = share.decode_keeping({"preset": "seed-mlp-128", key: HUGE})
        assert len(problems) == 1, problems
        assert key in problems[0] and len(problems[0]) < 250, problems[0][:300]


def test_a_settings_file_value_too_long_is_quoted_short():
    try:
        TrainConfig.from_dict({"lr": HUGE})
    except ValueError as exc:
        assert len(str(exc)) < 250
    else:
        raise AssertionError("a 100 kB learning rate was accepted")


def test_unknown_talk_entries_are_named_in_one_line_however_many():
    steps, problems = talk.parse_steps("nosuch~<script>alert(1)</script>~seed-3v7")
    assert [s.preset for s in steps] == ["seed-3v7"]
    assert problems == ["not presets, left out: 'nosuch', '<script>alert(1)</script>'"]
    many = "~".join(["nosuch"] * 10_000 + ["seed-3v7"] * 12)
    steps, problems = talk.parse_steps(many)
    assert len(steps) == talk.MAX_STEPS
    assert problems == [
        "not presets, left out: 'nosuch', 'nosuch', 'nosuch' and 9,997 more",
        "12 steps: the first 9 are kept (keys 1 to 9)",
    ]
