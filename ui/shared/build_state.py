"""The network and training settings being edited, kept in st.session_state as core dataclasses.

Build, Data and Train all edit the same two objects, so a change on one page is what the next
page trains. Widgets are keyed with a revision number: replacing the objects (a preset, a layer
added or moved) bumps it, so every widget is drawn again from the new values instead of keeping
its old state.
"""

from __future__ import annotations

import copy

import streamlit as st

from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.spec.presets import PRESETS

DEFAULT_PRESET = "seed-mlp-128"
SPEC_KEY = "spec"
CONFIG_KEY = "train_config"
PRESET_KEY = "preset"
REVISION_KEY = "settings_revision"


def _ensure() -> None:
    if SPEC_KEY not in st.session_state or CONFIG_KEY not in st.session_state:
        load_preset(st.session_state.get(PRESET_KEY, DEFAULT_PRESET))


def current_spec() -> ModelSpec:
    """Return the network being edited (it may be invalid: pages validate before use)."""
    _ensure()
    return st.session_state[SPEC_KEY]


def current_config() -> TrainConfig:
    """Return the training settings being edited."""
    _ensure()
    return st.session_state[CONFIG_KEY]


def current_preset() -> str:
    """Return the name of the preset the current settings started from."""
    _ensure()
    return st.session_state[PRESET_KEY]


def revision() -> int:
    """Return the settings revision; widget keys include it."""
    return st.session_state.get(REVISION_KEY, 0)


def bump_revision() -> None:
    """Make every settings widget redraw from the dataclasses on the next run."""
    st.session_state[REVISION_KEY] = revision() + 1


def widget_key(name: str) -> str:
    """Return a widget key tied to the current settings revision."""
    return f"r{revision()}_{name}"


def load_preset(name: str) -> None:
    """Replace the network and the training settings with fresh copies of a preset's."""
    previous = st.session_state.get(CONFIG_KEY)
    spec, config = PRESETS[name].fresh()
    if previous is not None:
        config.device = previous.device  # the device is a property of the machine, not the model
    st.session_state[SPEC_KEY] = spec
    st.session_state[CONFIG_KEY] = config
    st.session_state[PRESET_KEY] = name
    bump_revision()


def load_settings(preset: str, spec: ModelSpec, config: TrainConfig) -> None:
    """Replace the network and the training settings with these (from a shared link)."""
    previous = st.session_state.get(CONFIG_KEY)
    if previous is not None:
        config.device = previous.device  # the device is a property of the machine, not the link
    st.session_state[SPEC_KEY] = spec
    st.session_state[CONFIG_KEY] = config
    st.session_state[PRESET_KEY] = preset
    bump_revision()


def is_modified() -> bool:
    """Return True when the network or its training settings differ from the preset's."""
    preset = PRESETS[current_preset()]
    config = copy.deepcopy(current_config())
    config.device = preset.config.device
    return (
        current_spec().to_dict() != preset.spec.to_dict()
        or config.to_dict() != preset.config.to_dict()
    )


def run_name() -> str:
    """Return the name a run of the current settings is saved under."""
    return current_preset() if not is_modified() else f"{current_preset()}-custom"


def set_classes(classes: list[int]) -> None:
    """Train on these digits; a multi-output network follows with one output per digit."""
    config, spec = current_config(), current_spec()
    config.classes = list(classes)
    if spec.outputs != 1:
        spec.outputs = len(classes)
