"""Shareable links: every Build and Train setting mirrored into the page's URL.

A link names a preset and lists only what differs from it, one readable parameter per field:

    ?preset=small-cnn&dense=77-relu~64-tanh-bn-d0.2&lr=0.01&epochs=3&classes=37&aug_enabled=1

Layers are `~`-separated; a dense layer is `width-activation[-bn][-d<dropout>]`, a convolution
`channels-kernel-padding-activation-pool[-bn][-d<dropout>][-pf][-sep]` (`pf`: pool first,
`sep`: separable), and `none` is an empty list. Digits
are written one after another (`37` is 3 vs 7). `encode` and `decode` are pure; the device is
left out on purpose, as it belongs to the machine that opens the link, not to the network.
A lesson's `lock=` and `hide=` (core.spec.lesson) travel with the settings in the URL and the link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import NamedTuple
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from core.data.augment import AugmentConfig
from core.spec.config import TrainConfig, field_kinds, parse_field_text
from core.spec.models import ConvLayer, DenseLayer, ModelSpec
from core.spec.presets import PRESETS
from core.spec.quote import quoted
from ui.shared import build_state, lesson

PRESET_PARAM = "preset"
AUGMENT_PREFIX = "aug_"
LAYER_SEPARATOR = "~"  # left as is by Python's urlencode, unlike "," or ":"
NO_LAYERS = "none"
LOADED_KEY = "_share_loaded"
NOT_SHARED = {"device"}  # a property of the machine, not of the configuration

SPEC_FIELDS = [f.name for f in fields(ModelSpec)]
CONFIG_FIELDS = [f.name for f in fields(TrainConfig) if f.name not in NOT_SHARED | {"augment"}]
AUGMENT_FIELDS = [f.name for f in fields(AugmentConfig)]
SHARED_PARAMS = {
    PRESET_PARAM,
    *SPEC_FIELDS,
    *CONFIG_FIELDS,
    *(AUGMENT_PREFIX + name for name in AUGMENT_FIELDS),
}


class Shared(NamedTuple):
    """The settings a link describes."""

    preset: str
    spec: ModelSpec
    config: TrainConfig


# --- one value <-> text ---------------------------------------------------------------------


def _format_value(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        # positional, shortest round-trip form: no "1e-05", whose "-" would split a layer
        return np.format_float_positional(value, trim="-")
    if isinstance(value, list):  # the digits of a task
        return "".join(str(digit) for digit in value)
    return str(value)


# --- layers <-> text ------------------------------------------------------------------------

DENSE_POSITIONAL = ["width", "activation"]
CONV_POSITIONAL = ["channels", "kernel", "padding", "activation", "pool"]
POOL_FIRST_FLAG = "pf"
SEPARABLE_FLAG = "sep"


def _format_layer(layer: dict, positional: list[str]) -> str:
    parts = [_format_value(layer[name]) for name in positional]
    if layer["batch_norm"]:
        parts.append("bn")
    if layer["dropout"]:
        parts.append("d" + _format_value(float(layer["dropout"])))
    if layer.get("pool_first"):
        parts.append(POOL_FIRST_FLAG)
    if layer.get("separable"):
        parts.append(SEPARABLE_FLAG)
    return "-".join(parts)


def _format_layers(layers: list[dict], positional: list[str]) -> str:
    if not layers:
        return NO_LAYERS
    return LAYER_SEPARATOR.join(_format_layer(layer, positional) for layer in layers)


def _parse_layers(name: str, text: str, cls, positional: list[str]) -> list[dict]:
    if text == NO_LAYERS:
        return []
    kinds = field_kinds(cls)
    layers = []
    for i, token in enumerate(text.split(LAYER_SEPARATOR)):
        where = f"{name}[{i}]"
        parts = token.split("-")
        if len(parts) < len(positional):
            expected = "-".join(positional)
            raise ValueError(
                f"{where}: {quoted(token)} does not read as {expected}[-bn][-d<dropout>]"
            )
        layer = {
            field: parse_field_text(f"{where}.{field}", part, kinds[field])
            for field, part in zip(positional, parts, strict=False)
        }
        layer["batch_norm"] = False
        layer["dropout"] = 0.0
        flags = "'bn' nor d<dropout>"
        if "pool_first" in kinds:
            layer["pool_first"] = layer["separable"] = False
            flags = f"'bn', d<dropout>, '{POOL_FIRST_FLAG}' nor '{SEPARABLE_FLAG}'"
        for flag in parts[len(positional) :]:
            if flag == "bn":
                layer["batch_norm"] = True
            elif flag == POOL_FIRST_FLAG and "pool_first" in kinds:
                layer["pool_first"] = True
            elif flag == SEPARABLE_FLAG and "separable" in kinds:
                layer["separable"] = True
            elif flag.startswith("d"):
                layer["dropout"] = parse_field_text(f"{where}.dropout", flag[1:], "float")
            else:
                raise ValueError(f"{where}: {quoted(flag)} is neither {flags}")
        layers.append(layer)
    return layers


# --- whole settings <-> query parameters -----------------------------------------------------


def encode(spec: ModelSpec, config: TrainConfig, preset: str) -> dict[str, str]:
    """Return the query parameters describing spec and config: the preset plus what differs."""
    base = PRESETS[preset]
    params = {PRESET_PARAM: preset}
    spec_data, base_spec = spec.to_dict(), base.spec.to_dict()
    for name in SPEC_FIELDS:
        if spec_data[name] == base_spec[name]:
            continue
        if name == "dense":
            params[name] = _format_layers(spec_data[name], DENSE_POSITIONAL)
        elif name == "conv":
            params[name] = _format_layers(spec_data[name], CONV_POSITIONAL)
        else:
            params[name] = _format_value(spec_data[name])
    config_data, base_config = config.to_dict(), base.config.to_dict()
    for name in CONFIG_FIELDS:
        if config_data[name] != base_config[name]:
            params[name] = _format_value(config_data[name])
    for name in AUGMENT_FIELDS:
        if config_data["augment"][name] != base_config["augment"][name]:
            params[AUGMENT_PREFIX + name] = _format_value(config_data["augment"][name])
    return params


def decode(params: Mapping[str, str]) -> Shared:
    """Return the settings the query parameters describe; ValueError names a bad field."""
    preset = params.get(PRESET_PARAM, build_state.DEFAULT_PRESET)
    if preset not in PRESETS:
        raise ValueError(f"preset: {quoted(preset)} is not one of {', '.join(PRESETS)}")
    spec_data, config_data = PRESETS[preset].spec.to_dict(), PRESETS[preset].config.to_dict()
    spec_kinds, config_kinds, augment_kinds = (
        field_kinds(ModelSpec),
        field_kinds(TrainConfig),
        field_kinds(AugmentConfig),
    )
    for name in SPEC_FIELDS:
        if name not in params:
            continue
        if name == "dense":
            spec_data[name] = _parse_layers(name, params[name], DenseLayer, DENSE_POSITIONAL)
        elif name == "conv":
            spec_data[name] = _parse_layers(name, params[name], ConvLayer, CONV_POSITIONAL)
        else:
            spec_data[name] = parse_field_text(name, params[name], spec_kinds[name])
    for name in CONFIG_FIELDS:
        if name in params:
            config_data[name] = parse_field_text(name, params[name], config_kinds[name])
    for name in AUGMENT_FIELDS:
        key = AUGMENT_PREFIX + name
        if key in params:
            config_data["augment"][name] = parse_field_text(
                f"augment.{name}", params[key], augment_kinds[name]
            )
    return Shared(preset, ModelSpec.from_dict(spec_data), TrainConfig.from_dict(config_data))


def decode_keeping(params: Mapping[str, str]) -> tuple[Shared, list[str]]:
    """Return the settings a link describes, using every parameter that is valid on its own.

    Each parameter that cannot be read or is out of range keeps the preset's value and gives
    one message naming its field; the link's other settings are still used. An unknown preset
    falls back to the default one.
    """
    problems: list[str] = []
    preset = params.get(PRESET_PARAM, build_state.DEFAULT_PRESET)
    if preset not in PRESETS:
        problems.append(f"preset: {quoted(preset)} is not one of {', '.join(PRESETS)}")
        preset = build_state.DEFAULT_PRESET
    accepted = {PRESET_PARAM: preset}
    rejected: dict[str, str] = {}
    pending = [key for key in params if key in SHARED_PARAMS and key != PRESET_PARAM]
    # the second pass takes what only fits after a later parameter (outputs=1 before output)
    for _ in range(2):
        for key in pending:
            try:
                decode({**accepted, key: params[key]})
            except ValueError as exc:
                rejected[key] = str(exc)
            else:
                accepted[key] = params[key]
                rejected.pop(key, None)
        pending = list(rejected)
    return decode(accepted), problems + list(rejected.values())


def has_settings(params: Mapping[str, str]) -> bool:
    """Return True when the query parameters carry any shared setting."""
    return any(key in SHARED_PARAMS for key in params)


# --- Streamlit side ---------------------------------------------------------------------------


def load_from_url() -> None:
    """Once per session, before any page runs: adopt the settings a shared link carries."""
    if st.session_state.get(LOADED_KEY):
        return
    st.session_state[LOADED_KEY] = True
    params = st.query_params.to_dict()
    if not has_settings(params):
        return
    shared, problems = decode_keeping(params)
    build_state.load_settings(shared.preset, shared.spec, shared.config)
    if problems:
        listed = "\n".join(f"- {problem}" for problem in problems)
        st.error(
            f"Some of this link's settings could not be used:\n{listed}\n\n"
            f"Each keeps the value of the preset {shared.preset}; "
            "the link's other settings are applied.",
            icon=":material/link_off:",
        )


def _current_params() -> dict[str, str]:
    settings = encode(
        build_state.current_spec(), build_state.current_config(), build_state.current_preset()
    )
    return {**settings, **lesson.url_params()}


def sync_to_url() -> None:
    """Write the current settings (and lesson) into the URL, touching only what changed."""
    wanted = _current_params()
    synced = SHARED_PARAMS | set(lesson.PARAMS)
    for key in [key for key in st.query_params if key in synced and key not in wanted]:
        del st.query_params[key]
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value  # each write is sent to the browser: only on change


def share_link() -> str:
    """Return the full link to the current page with the current settings (and lesson)."""
    query = urlencode(_current_params())
    base = st.context.url  # None outside a browser session (e.g. under AppTest)
    return f"{base}?{query}" if base else f"?{query}"


def copy_link_button() -> None:
    """Draw a "Copy link" popover holding the shareable link (with a copy icon)."""
    with st.popover("Copy link", icon=":material/link:", width="stretch"):
        locks = ", with this lesson's locks" if lesson.active() else ""
        st.caption(
            f"Anyone opening this link gets this network and these training settings{locks}."
        )
        # a fenced block, not st.code: same copy icon, and the pages' own code blocks keep
        # their places among st.code elements
        st.markdown(f"```text\n{share_link()}\n```")
