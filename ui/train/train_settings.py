"""The Train page's settings widgets: each reads from and writes back into the TrainConfig."""

from __future__ import annotations

import streamlit as st

from core.data.augment import AUGMENT_LIMITS
from core.spec.config import ENGINES, LIMITS, LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig
from ui.shared import lesson
from ui.shared.build_state import widget_key
from ui.shared.choices import BATCH_SIZES, LEARNING_RATES, WEIGHT_DECAYS

FULL_BATCH = "full"
TRAIN_FRACTIONS = [0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0]
SCHEDULE_HELP = {
    "constant": "the same rate throughout",
    "step": "multiply by gamma every few epochs",
    "cosine": "glide down to zero along a cosine",
    "onecycle": "warm up, then anneal: fast and robust",
}


def _with(options: list, value) -> list:
    """Return the options with value added in order, so a preset's exact value stays selectable."""
    return options if value in options else sorted([*options, value])


def _setting(config: TrainConfig, field: str, widget: str, label: str, where=None, **options):
    """Draw one setting's widget and write its value into config: nothing where the lesson
    hides the setting, greyed out with the lesson's note where it fixes it."""
    if lesson.hidden(field):
        return
    draw = getattr(where or st, widget)
    value = draw(label, key=widget_key(field), disabled=lesson.locked(field), **options)
    setattr(config, field, value)
    lesson.note(field, where=where)


def _number(config: TrainConfig, field: str, label: str, where=None, **options) -> None:
    """Draw a number box for a setting, within its limits (core.spec.config.LIMITS)."""
    low, high = LIMITS[field]
    value = getattr(config, field)
    value = float(value) if isinstance(low, float) or isinstance(value, float) else value
    _setting(config, field, "number_input", label, where, min_value=low, max_value=high,
             value=value, **options)  # fmt: skip


def _choice(config: TrainConfig, field: str, label: str, choices, where=None, **options) -> None:
    """Draw a select box for a setting, showing its current value."""
    _setting(config, field, "selectbox", label, where, options=choices,
             index=list(choices).index(getattr(config, field)), **options)  # fmt: skip


def _slider(config: TrainConfig, field: str, label: str, values, where=None, **options) -> None:
    """Draw a select slider over log-spaced values, the current one always among them."""
    value = getattr(config, field)
    _setting(config, field, "select_slider", label, where, options=_with(values, value),
             value=value, format_func=lambda v: f"{v:g}", **options)  # fmt: skip


def optimizer_settings(config: TrainConfig) -> None:
    """Draw engine, optimizer, learning rate (log steps), momentum, weight decay, schedule."""
    _choice(config, "engine", "Engine", ENGINES,
            help="scratch: forward and backward written by hand, no autograd — "
            "dense networks and SGD only")  # fmt: skip
    left, right = st.columns(2)
    _choice(config, "optimizer", "Optimizer", OPTIMIZERS, left)
    _slider(config, "lr", "Learning rate", LEARNING_RATES, right,
            help="Log-spaced steps: 1, 2, 3, 5 per decade.")  # fmt: skip
    left, right = st.columns(2)
    _slider(config, "weight_decay", "Weight decay", WEIGHT_DECAYS, left)
    _choice(config, "schedule", "Schedule", SCHEDULES, right,
            help="How the learning rate changes: "
            + "; ".join(f"**{name}**: {text}" for name, text in SCHEDULE_HELP.items()))  # fmt: skip
    if config.optimizer in ("sgd", "rmsprop"):
        _number(config, "momentum", "Momentum", step=0.1)
    if config.optimizer in ("adam", "adamw"):
        left, right = st.columns(2)
        _number(config, "beta1", "β₁ (mean decay)", left, step=0.05,
                help="How slowly the running mean of the gradient forgets; 0.9 is PyTorch's "
                "default.")  # fmt: skip
        _number(config, "beta2", "β₂ (square decay)", right, step=0.001, format="%.4f",
                help="How slowly the running mean of the squared gradient forgets; 0.999 is "
                "the default.")  # fmt: skip
    if config.schedule == "onecycle":
        _setting(config, "cycle_momentum", "checkbox", "Cycle momentum with the rate",
                 value=config.cycle_momentum,
                 help="PyTorch's one-cycle default: momentum (Adam's β₁) goes 0.95 → 0.85 → "
                 "0.95 as the rate rises and falls, overriding the value set above. Off: it "
                 "stays put.")  # fmt: skip
    if config.schedule == "step":
        left, right = st.columns(2)
        _number(config, "step_epochs", "Every (epochs)", left)
        _number(config, "step_gamma", "Gamma", right, step=0.05)


def loop_settings(config: TrainConfig) -> None:
    """Draw batch size (or full batch), epochs, steps, loss, seed and the share of data used."""
    left, right = st.columns(2)
    if not lesson.hidden("batch_size", "full_batch"):
        batch = left.select_slider(
            "Batch size",
            [*_with(BATCH_SIZES, config.batch_size), FULL_BATCH],
            value=FULL_BATCH if config.full_batch else config.batch_size,
            key=widget_key("batch"),
            help="'full': one step per epoch over the whole training set.",
            disabled=lesson.locked("batch_size", "full_batch"),
        )
        lesson.note("batch_size", "full_batch", where=left)
        config.full_batch = batch == FULL_BATCH
        if not config.full_batch:
            config.batch_size = batch
    _number(config, "epochs", "Epochs", right)
    left, right = st.columns(2)
    _choice(config, "loss", "Loss", LOSSES, left)
    _number(config, "seed", "Seed", right)
    left, right = st.columns(2)
    _setting(config, "train_fraction", "select_slider", "Training data used", left,
             options=_with(TRAIN_FRACTIONS, config.train_fraction), value=config.train_fraction,
             format_func=lambda f: f"{f:.0%}",
             help="A fraction of the training set, for quick experiments.")  # fmt: skip
    _number(config, "iterations", "Stop after steps", right, step=100,
            help="0: train for the epochs above; otherwise exactly this many steps.")  # fmt: skip


# the augmentation's widgets in the order they are drawn, two to a row: (field, label, step,
# help); "elastic" is a checkbox
AUGMENT_SLIDERS = (
    ("rotation", "Rotation (°)", 1.0, None),
    ("shift", "Shift (of side)", 0.01, None),
    ("scale", "Scale (±)", 0.01, None),
    ("shear", "Shear (°)", 1.0, None),
    ("thickness", "Stroke thickness change", 0.05,
     "Probability that a digit's strokes get thicker or thinner."),
    ("elastic", "Elastic warp", None, None),
    ("bold", "Bold strokes", 0.05,
     "Probability of a much fatter brush that fills the loops in, as bold drawings do."),
    ("serif", "Flagged and footed 1s", 0.05,
     "Probability that a narrow digit gets a flag and/or a foot, as people draw 1s."),
)  # fmt: skip


def augment_settings(config: TrainConfig) -> None:
    """Draw augmentation on/off and, when on, the strength of each distortion."""
    if lesson.hidden("augment"):
        return
    augment = config.augment
    fixed = lesson.locked("augment")  # the lesson fixes the whole augmentation
    augment.enabled = st.toggle(
        "Augment training images",
        value=augment.enabled,
        key=widget_key("augment"),
        help="Random distortions of every batch: slower per epoch, better on drawn digits.",
        disabled=fixed,
    )
    lesson.note("augment")
    if not augment.enabled:
        return
    left, right = st.columns(2)
    for i, (field, label, step, text) in enumerate(AUGMENT_SLIDERS):
        where = (left, right)[i % 2]
        if field == "elastic":
            augment.elastic = where.checkbox(
                label, value=augment.elastic, key=widget_key(field), disabled=fixed
            )
            continue
        low, high = AUGMENT_LIMITS[field]
        value = where.slider(label, low, high, float(getattr(augment, field)), step,
                             key=widget_key(field), help=text, disabled=fixed)  # fmt: skip
        setattr(augment, field, value)


def my_digits_settings(config: TrainConfig, set_names: list[str]) -> None:
    """Draw the choice of a set of my digits to train on too, and how often each one appears."""
    if lesson.hidden("my_digits"):
        return
    options = ["", *set_names]
    if config.my_digits not in options:  # a link naming a set this server does not have
        options.append(config.my_digits)
    left, right = st.columns(2)
    config.my_digits = left.selectbox(
        "Train on my digits too",
        options,
        index=options.index(config.my_digits),
        format_func=lambda name: name or "no",
        key=widget_key("my_digits"),
        help="Add a set of your own digits (saved on the Draw page) to the training digits.",
        disabled=lesson.locked("my_digits"),
    )
    lesson.note("my_digits", where=left)
    if config.my_digits:
        _number(config, "my_digits_repeat", "Times each of my digits appears per epoch", right,
                help="A few dozen digits among 55,000 would hardly count: each is repeated "
                "(with the augmentation, differently each time).")  # fmt: skip
