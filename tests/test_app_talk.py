"""Talk mode under AppTest: switched on by a link or the sidebar, presets one click apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.shared import talk

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(autouse=True)
def _needs_mnist(data_dir):
    """The pages render on the real MNIST."""


def _open(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    return at.run()


def _buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def _param(at: AppTest, key: str) -> str | None:
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value


def test_a_talk_link_shows_the_numbered_presets_draw_and_exit():
    at = _open({"talk": "seed-3v7~small-cnn"})
    assert not at.exception
    labels = _buttons(at)
    assert labels[:4] == ["1 · seed-3v7", "2 · small-cnn", "Draw", "Exit talk"]
    assert at.session_state[talk.ACTIVE_KEY] is True
    assert "font-size: 21px" in "".join(str(h.proto.body) for h in at.get("html"))
    assert not [e for e in at.expander if e.label == "Talk mode"]  # no sidebar controls


def test_a_talk_preset_button_loads_the_preset_and_opens_train():
    at = _open({"talk": "1"})
    at.button(key="talk-step-3").click().run()
    assert not at.exception
    assert at.title[0].value == "Train"
    assert at.session_state["preset"] == "small-cnn"
    assert _param(at, "talk") == "~".join(talk.DEFAULT_SEQUENCE)  # still bookmarkable


def test_exit_talk_brings_the_sidebar_controls_back():
    at = _open({"talk": "1"})
    at.button(key="talk-exit").click().run()
    assert not at.exception
    assert at.session_state[talk.ACTIVE_KEY] is False
    assert _param(at, "talk") is None
    assert "Start talk mode" in _buttons(at)
    assert "Exit talk" not in _buttons(at)


def test_the_sidebar_starts_talk_mode_with_the_chosen_sequence():
    at = _open()
    assert "Exit talk" not in _buttons(at)
    at.multiselect(key=talk.PICKER_KEY).set_value(["small-cnn", "seed-mlp-128"]).run()
    next(b for b in at.button if b.label == "Start talk mode").click().run()
    assert not at.exception
    assert _buttons(at)[:2] == ["1 · small-cnn", "2 · seed-mlp-128"]
    at.run()  # the sequence outlives its hidden picker
    assert _buttons(at)[:2] == ["1 · small-cnn", "2 · seed-mlp-128"]
    assert _param(at, "talk") == "small-cnn~seed-mlp-128"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", list(talk.DEFAULT_SEQUENCE)),
        ("", list(talk.DEFAULT_SEQUENCE)),
        ("lenet5~nonsense~draw", ["lenet5", "draw"]),
        ("nonsense", list(talk.DEFAULT_SEQUENCE)),
        ("~".join(["lenet5"] * 12), ["lenet5"] * talk.MAX_STEPS),
    ],
)
def test_talk_sequences_keep_known_presets_only(text, expected):
    assert talk.parse_sequence(text) == expected


def test_charts_are_larger_only_in_talk_mode():
    assert talk.font_scale() == 1.0  # outside a Streamlit run there is no talk mode
