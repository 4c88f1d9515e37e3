"""Lesson links: a link fixes chosen settings, locking some (greyed out) and hiding others."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.spec.lesson import NAMES, Lesson, from_params, from_text, impose
from core.spec.presets import PRESETS
from core.train.jobs import JobRegistry
from ui.shared import lesson, talk

APP = str(Path(__file__).resolve().parent.parent / "app.py")
DATA = "views/1_Data.py"
BUILD = "views/2_Build.py"
TRAIN = "views/3_Train.py"
NOTE = lesson.NOTE
LESSON = {
    "preset": "seed-mlp-128",
    "lr": "0.1",
    "epochs": "2",
    "lock": "network~lr",
    "hide": "batch_size~schedule~augment",
}


# --- parsing (pure) ---------------------------------------------------------------------------


def test_a_lesson_round_trips_through_its_query_parameters():
    original = Lesson(frozenset({"network", "lr"}), frozenset({"schedule", "batch_size"}))
    params = original.to_params()
    assert params == {"lock": "network~lr", "hide": "batch_size~schedule"}  # vocabulary order
    assert from_params(params) == (original, [])


def test_a_lesson_round_trips_through_a_talk_steps_text():
    original = Lesson(frozenset({"network", "optimizer"}), frozenset({"schedule"}))
    assert original.to_text() == "lock=network~optimizer;hide=schedule"
    assert from_text(original.to_text()) == (original, [])


def test_the_vocabulary_is_the_training_settings_and_network_but_not_the_device():
    assert {"network", "lr", "epochs", "batch_size", "augment", "classes"} <= set(NAMES)
    assert "device" not in NAMES


def test_unknown_names_are_refused_with_a_message_naming_them_and_the_rest_apply():
    found, problems = from_params({"lock": "lr~learning_rate", "hide": "device~epochs"})
    assert found == Lesson(frozenset({"lr"}), frozenset({"epochs"}))
    assert len(problems) == 2
    assert "lock: 'learning_rate' is not a setting" in problems[0] and "network" in problems[0]
    assert "hide: 'device' cannot be fixed" in problems[1]


def test_commas_separate_names_as_tildes_do():
    assert from_params({"lock": "network,lr"})[0] == from_params({"lock": "network~lr"})[0]


def test_a_talk_steps_text_that_is_neither_lock_nor_hide_is_refused():
    found, problems = from_text("lock=lr;fix=epochs")
    assert found == Lesson(frozenset({"lr"}))
    assert problems == ["'fix=epochs' reads as neither lock=<names> nor hide=<names>"]


def test_an_empty_lesson_fixes_nothing():
    assert not Lesson()
    assert Lesson().to_params() == {} and from_params({}) == (Lesson(), [])


def test_impose_puts_back_the_fixed_settings_only():
    lesson_spec, lesson_config = PRESETS["seed-mlp-128"].fresh()
    spec, config = PRESETS["seed-mlp-128"].fresh()
    spec.dense[0].width, config.lr, config.epochs = 7, 0.5, 9
    fixed = Lesson(frozenset({"network"}), frozenset({"lr"}))
    assert impose(fixed, lesson_spec, lesson_config, spec, config) == ["network", "lr"]
    assert spec.dense[0].width == lesson_spec.dense[0].width
    assert config.lr == lesson_config.lr
    assert config.epochs == 9  # not fixed: the learner's value stays
    assert impose(fixed, lesson_spec, lesson_config, spec, config) == []


def test_talk_steps_carry_their_own_lessons():
    steps, problems = talk.parse_steps("seed-3v7~small-cnn[lock=network~lr;hide=schedule]~lenet5")
    assert problems == []
    assert [step.preset for step in steps] == ["seed-3v7", "small-cnn", "lenet5"]
    assert steps[0].lesson == Lesson() and steps[2].lesson == Lesson()
    assert steps[1].lesson == Lesson(frozenset({"network", "lr"}), frozenset({"schedule"}))
    assert talk.format_steps(steps) == "seed-3v7~small-cnn[lock=network~lr;hide=schedule]~lenet5"


def test_old_talk_sequences_read_as_before_and_a_bad_step_lock_is_named():
    assert talk.parse_sequence("seed-3v7~small-cnn") == ["seed-3v7", "small-cnn"]
    steps, problems = talk.parse_steps("small-cnn[lock=speed]")
    assert steps == [talk.Step("small-cnn")]
    assert problems and problems[0].startswith("talk step 1 (small-cnn): lock: 'speed'")


# --- in the app -------------------------------------------------------------------------------


@pytest.fixture
def _mnist(data_dir):
    """The pages render on the real MNIST."""


def _open(params: dict[str, str], page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at if page is None else at.switch_page(page).run()


def _labelled(widgets, label: str) -> list:
    return [w for w in widgets if w.label == label]


def _notes(at: AppTest) -> int:
    return sum(c.value == NOTE for c in at.caption)


def _forge(widget, value) -> None:
    """Send a value for a widget as a doctored browser could: AppTest refuses a disabled one."""
    widget._value = value


def _param(at: AppTest, key: str) -> str | None:
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value  # AppTest keeps lists of values


@pytest.mark.usefixtures("_mnist")
def test_a_lesson_link_hides_some_train_controls_and_locks_others():
    at = _open(LESSON, TRAIN)
    assert not at.exception
    for widgets, label in [
        (at.select_slider, "Batch size"),
        (at.selectbox, "Schedule"),
        (at.toggle, "Augment training images"),
    ]:
        assert not _labelled(widgets, label), label
    assert not [e for e in at.expander if e.label == "Augmentation"]
    [rate] = _labelled(at.select_slider, "Learning rate")
    assert rate.disabled and rate.value == 0.1
    [epochs] = _labelled(at.number_input, "Epochs")
    assert not epochs.disabled and epochs.value == 2  # in the link, but free to change
    assert _notes(at) == 1
    assert not _labelled(at.button, "Start race")  # a race would vary what the lesson fixed


@pytest.mark.usefixtures("_mnist")
def test_a_locked_network_is_shown_read_only_on_build():
    at = _open(LESSON, BUILD)
    assert not at.exception
    assert all(w.disabled for w in at.number_input)  # widths, dropouts, outputs
    assert _labelled(at.selectbox, "Start from a preset")[0].disabled
    assert _labelled(at.button, "Add dense layer")[0].disabled
    assert _notes(at) == 1


@pytest.mark.usefixtures("_mnist")
def test_locks_survive_switching_pages_and_stay_in_the_url():
    at = _open(LESSON, TRAIN)
    at.switch_page(DATA).run()
    at.switch_page(BUILD).run()
    at.switch_page(TRAIN).run()
    assert not at.exception
    assert _labelled(at.select_slider, "Learning rate")[0].disabled
    assert not _labelled(at.select_slider, "Batch size")
    assert _param(at, "lock") == "network~lr"
    assert _param(at, "hide") == "batch_size~schedule~augment"


@pytest.fixture
def submitted(monkeypatch) -> list:
    """What Start training hands the job registry; nothing is trained."""
    seen = []

    def capture(self, spec, config, *args, **kwargs):
        seen.append((spec, config))
        raise ValueError("captured by the test")

    monkeypatch.setattr(JobRegistry, "submit", capture)
    return seen


@pytest.mark.usefixtures("_mnist")
def test_a_locked_value_set_through_session_state_is_not_what_training_gets(submitted):
    at = _open(LESSON, TRAIN)
    # AppTest refuses set_value on a disabled widget, as a browser would: session state can
    rate_key = _labelled(at.select_slider, "Learning rate")[0].key
    at.session_state[rate_key] = 0.5
    _labelled(at.button, "Start training")[0].click().run()
    assert not at.exception
    [(spec, config)] = submitted
    assert config.lr == 0.1 and config.epochs == 2
    assert [layer.width for layer in spec.dense] == [128, 128]
    assert at.session_state["train_config"].lr == 0.1
    assert _param(at, "lr") == "0.1"


@pytest.mark.usefixtures("_mnist")
def test_a_forged_value_for_a_locked_widget_is_not_what_training_gets(submitted):
    at = _open(LESSON, TRAIN)
    _forge(_labelled(at.select_slider, "Learning rate")[0], 0.5)
    _labelled(at.button, "Start training")[0].click().run()
    assert not at.exception
    assert submitted[0][1].lr == 0.1


@pytest.mark.usefixtures("_mnist")
def test_a_locked_network_edited_through_session_state_or_a_forged_preset_stays():
    at = _open(LESSON, BUILD)
    widths = [layer.width for layer in at.session_state["spec"].dense]
    at.session_state[_labelled(at.number_input, "Width")[0].key] = 7
    at.run()
    assert not at.exception
    assert [layer.width for layer in at.session_state["spec"].dense] == widths
    assert _param(at, "dense") is None  # the URL never showed the edited network
    _forge(_labelled(at.selectbox, "Start from a preset")[0], "small-cnn")
    at.run()
    assert not at.exception
    assert at.session_state["spec"].conv == [] and at.session_state["preset"] == "seed-mlp-128"
    assert at.session_state["train_config"].epochs == 2  # the preset was not loaded at all


@pytest.mark.usefixtures("_mnist")
def test_digits_locked_by_a_lesson_are_greyed_on_the_data_page_and_put_back_if_changed():
    at = _open({"classes": "37", "outputs": "2", "lock": "classes", "hide": "normalization"}, DATA)
    assert next(c for c in at.segmented_control if c.label == "Digits").disabled
    assert any("set by this lesson" in m.value for m in [*at.markdown, *at.caption])
    assert not [r for r in at.radio if r.label == "Normalisation"]
    at.session_state[next(c for c in at.segmented_control if c.label == "Digits").key] = (
        "All ten digits"  # tampering, not a click
    )
    at.run()
    assert not at.exception
    assert at.session_state["train_config"].classes == [3, 7]


@pytest.mark.usefixtures("_mnist")
def test_unknown_names_in_a_lesson_link_are_a_warning_and_the_known_ones_apply():
    at = _open({"lock": "lr~learning_rate"})
    assert not at.exception
    assert any("'learning_rate' is not a setting" in w.value for w in at.warning)
    at.switch_page(TRAIN).run()
    assert _labelled(at.select_slider, "Learning rate")[0].disabled


@pytest.mark.usefixtures("_mnist")
def test_the_share_link_of_a_lesson_page_keeps_the_lesson():
    at = _open(LESSON, TRAIN)
    links = [m.value for m in at.markdown if "preset=" in m.value]
    assert (
        links and "lock=network~lr" in links[0] and "hide=batch_size~schedule~augment" in links[0]
    )
    assert "lr=0.1" in links[0]


@pytest.mark.usefixtures("_mnist")
def test_leave_lesson_unlocks_every_setting_and_keeps_its_value():
    at = _open(LESSON, TRAIN)
    _labelled(at.button, "Leave lesson")[0].click().run()
    assert not at.exception
    [rate] = _labelled(at.select_slider, "Learning rate")
    assert not rate.disabled and rate.value == 0.1
    assert _labelled(at.select_slider, "Batch size")
    assert _notes(at) == 0
    assert _param(at, "lock") is None and _param(at, "hide") is None


@pytest.mark.usefixtures("_mnist")
def test_a_talk_step_with_a_lesson_locks_its_preset_and_a_plain_step_frees_it():
    sequence = "seed-3v7~small-cnn[lock=network~lr;hide=schedule]"
    at = _open({"talk": sequence})
    at.button(key="talk-step-2").click().run()
    assert not at.exception
    assert at.title[0].value == "Train"
    assert _labelled(at.select_slider, "Learning rate")[0].disabled
    assert _labelled(at.select_slider, "Learning rate")[0].value == PRESETS["small-cnn"].config.lr
    assert not _labelled(at.selectbox, "Schedule")
    assert _param(at, "talk") == sequence  # the bookmark keeps each step's lesson
    assert _param(at, "lock") == "network~lr"

    at.button(key="talk-step-1").click().run()
    assert not at.exception
    assert not _labelled(at.select_slider, "Learning rate")[0].disabled
    assert _labelled(at.selectbox, "Schedule")
    assert lesson.KEY not in at.session_state


@pytest.mark.usefixtures("_mnist")
def test_leave_lesson_sits_in_the_talk_bar_in_talk_mode():
    at = _open({"talk": "small-cnn[lock=lr]"})
    at.button(key="talk-step-1").click().run()
    labels = [b.label for b in at.button]
    assert labels[:4] == ["1 · small-cnn", "Draw", "Leave lesson", "Exit talk"]
    at.button(key="talk-leave-lesson").click().run()
    assert not at.exception
    assert not _labelled(at.select_slider, "Learning rate")[0].disabled
    assert "Leave lesson" not in [b.label for b in at.button]
