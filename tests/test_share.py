"""Shareable links: settings survive encode -> URL -> decode, and tampered links name the field."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest

from core.spec.models import ConvLayer, DenseLayer
from core.spec.presets import PRESETS
from ui.shared import share


def _through_url(params: dict[str, str]) -> dict[str, str]:
    """Return params after a trip through a query string, as a browser would send them back."""
    return dict(parse_qsl(urlencode(params), keep_blank_values=True))


@pytest.mark.parametrize("name", list(PRESETS))
def test_an_unchanged_preset_is_just_its_name(name):
    spec, config = PRESETS[name].fresh()
    params = share.encode(spec, config, name)
    assert params == {"preset": name}
    assert share.decode(_through_url(params)) == (name, spec, config)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_round_trips_when_written_against_another_preset(name):
    spec, config = PRESETS[name].fresh()
    params = share.encode(spec, config, "seed-mlp-128")
    assert share.decode(_through_url(params)) == ("seed-mlp-128", spec, config)


def test_a_custom_conv_and_dense_network_with_changed_training_round_trips():
    spec, config = PRESETS["small-cnn"].fresh()
    spec.conv = [
        ConvLayer(8, 5, "valid", "gelu", "avg", batch_norm=False, dropout=0.1 + 0.2),
        ConvLayer(24, 3, "same", "leaky_relu", "none", batch_norm=True),
    ]
    spec.dense = [DenseLayer(77, "tanh", 0.25, True), DenseLayer(40, "leaky_relu")]
    spec.outputs, spec.init = 2, "randn"
    config.optimizer, config.lr, config.momentum = "sgd", 1e-5, 0.9
    config.epochs, config.full_batch, config.classes = 3, True, [3, 7]
    config.val_fraction = 1 / 12
    config.augment.enabled, config.augment.rotation = True, 12.5
    params = share.encode(spec, config, "small-cnn")
    assert params["dense"] == "77-tanh-bn-d0.25~40-leaky_relu"
    assert params["lr"] == "0.00001" and params["classes"] == "37"
    assert "device" not in params  # the machine opening the link picks its own device
    assert share.decode(_through_url(params)) == ("small-cnn", spec, config)


def test_a_removed_layer_list_is_written_as_none():
    spec, config = PRESETS["lenet5"].fresh()
    spec.dense = []
    params = share.encode(spec, config, "lenet5")
    assert params["dense"] == "none"
    assert share.decode(params).spec.dense == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"preset": "no-such-net"}, "preset"),
        ({"lr": "fast"}, "lr"),
        ({"lr": "99"}, "lr"),
        ({"epochs": "1.5"}, "epochs"),
        ({"optimizer": "magic"}, "optimizer"),
        ({"classes": "3x"}, "classes"),
        ({"classes": "33"}, "classes"),
        ({"full_batch": "maybe"}, "full_batch"),
        ({"aug_rotation": "720"}, "rotation"),
        ({"dense": "77"}, "dense[0]"),
        ({"dense": "77-relu~abc-relu"}, "dense[1].width"),
        ({"dense": "77-swish"}, "dense[0].activation"),
        ({"dense": "77-relu-d2"}, "dense[0].dropout"),
        ({"dense": "77-relu-xx"}, "dense[0]"),
        ({"conv": "8-k3-same-relu-max"}, "conv[0].kernel"),
        ({"conv": "8-3-same-relu-huge"}, "conv[0].pool"),
        ({"outputs": "11"}, "outputs"),
    ],
)
def test_a_tampered_value_raises_a_value_error_naming_the_field(params, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        share.decode(params)


def test_parameters_that_are_not_settings_are_ignored():
    assert not share.has_settings({"job": "20250101-abc"})
    assert share.has_settings({"job": "x", "lr": "0.01"})
    assert share.decode({"job": "x", "lr": "0.01"}).config.lr == 0.01


def test_separable_convolutions_and_global_pooling_travel_in_the_link():
    spec, config = PRESETS["tiny"].fresh()
    params = share.encode(spec, config, "small-cnn")
    assert params["conv"].split("~")[1] == "9-3-valid-relu-none-bn-sep"
    assert params["global_pool"] == "1"
    assert share.decode(_through_url(params)) == ("small-cnn", spec, config)


def test_the_longest_link_the_app_writes_stays_below_what_servers_and_proxies_accept():
    # A hand-made URL past the server's limit (Tornado's 64 KiB of headers; 8 KiB at many
    # proxies) is refused before the app runs (issue 28); what the app itself writes into the
    # URL is bounded by the limits: every layer the builder allows, every number with all its
    # digits, a lesson fixing everything, and a talk of its 9 steps each with that lesson
    from dataclasses import fields

    from core.spec.config import LIMITS, TrainConfig
    from core.spec.lesson import NAMES, Lesson
    from core.spec.models import MAX_CHANNELS, MAX_CONV_LAYERS, MAX_DENSE_LAYERS
    from ui.shared.talk import MAX_STEPS, TALK_PARAM, Step, format_steps

    spec, config = PRESETS["small-cnn"].fresh()
    odd = 0.123456789012345
    spec.conv = [
        ConvLayer(
            MAX_CHANNELS - i,
            7,
            "same",
            "leaky_relu",
            "avg" if i < 2 else "none",
            True,
            odd,
            True,
            True,
        )  # the image must not shrink to nothing: pooled twice
        for i in range(MAX_CONV_LAYERS)
    ]
    spec.dense = [DenseLayer(4095 - i, "tanh", odd, True) for i in range(MAX_DENSE_LAYERS)]
    for field in fields(TrainConfig):
        if field.name in LIMITS and field.name != "iterations":
            low, high = LIMITS[field.name]
            whole = isinstance(low, int) and isinstance(high, int)
            setattr(config, field.name, high - 1 if whole else low + (high - low) * odd)
    config.validate()
    everything = Lesson(locked=frozenset(NAMES[: len(NAMES) // 2]), hidden=frozenset(NAMES))
    params = {**share.encode(spec, config, "seed-3v7"), **everything.to_params()}
    params[TALK_PARAM] = format_steps([Step("small-cnn", everything)] * MAX_STEPS)
    url = "http://192.168.100.200:8501/build?" + urlencode(params)
    assert share.decode(_through_url(params))[1:] == (spec, config)  # all of it is used
    assert len(url) < 8 * 1024, len(url)  # 5,206 characters on 2026-12-06
