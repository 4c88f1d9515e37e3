"""core.spec.models and core.spec.presets: specs round-trip, validate, build what they say."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.spec.models import (
    ConvLayer,
    DenseLayer,
    ModelSpec,
    build,
    multiply_adds,
    parameter_count,
    summary,
)
from core.spec.presets import PRESETS, get_preset


def test_spec_round_trips_through_json():
    spec = ModelSpec(
        conv=[ConvLayer(8, 5, "valid", "gelu", "avg", True, 0.1)],
        dense=[DenseLayer(64, "tanh", 0.2, True)],
        output="log_softmax",
    )
    assert ModelSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dense": [{"width": 0}]}, "dense[0].width"),
        ({"dense": [{"width": 64, "activation": "swish"}]}, "dense[0].activation"),
        ({"dense": [{"width": 64, "dropout": 1.5}]}, "dense[0].dropout"),
        ({"conv": [{"channels": 999}]}, "conv[0].channels"),
        ({"conv": [{"kernel": 11}]}, "conv[0].kernel"),
        ({"outputs": 11}, "outputs"),
        ({"output": "tanh"}, "output"),
        ({"dense": [{"width": 64, "colour": "red"}]}, "dense[0]"),
        ({"conv": [{"kernel": 9, "padding": "valid", "pool": "max"}] * 3}, "conv[2]"),
        ({"conv": [{"separable": "yes"}]}, "conv[0].separable"),
        ({"conv": [], "global_pool": True}, "global_pool"),
        ({"conv": [{"pool": "none", "padding": "same"}] * 7}, "conv"),
    ],
)
def test_invalid_specs_name_the_field(change, field):
    data = {**ModelSpec().to_dict(), **change}
    with pytest.raises(ValueError) as error:
        ModelSpec.from_dict(data)
    assert str(error.value).startswith(field)


def test_seed_mlp_128_is_the_tutorial_network():
    model = build(get_preset("seed-mlp-128").spec)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 128), (128, 128), (128, 10)]
    assert sum(isinstance(m, nn.ReLU) for m in model) == 2
    assert (
        parameter_count(get_preset("seed-mlp-128").spec) == 784 * 128 + 128 + 128 * 128 + 128 + 1290
    )


def test_seed_mlp_512_is_the_quickstart_sequential():
    model = build(get_preset("seed-mlp-512").spec)
    assert isinstance(model, nn.Sequential) and isinstance(model[0], nn.Flatten)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert model[1].out_features == 512 and model[3].out_features == 512


def test_seed_mlp_4layer_ends_in_sigmoid_then_log_softmax():
    model = build(get_preset("seed-mlp-4layer").spec)
    kinds = [type(m).__name__ for m in model]
    assert kinds == [
        "Flatten",
        "Linear",
        "ReLU",
        "Linear",
        "ReLU",
        "Linear",
        "Sigmoid",
        "Linear",
        "LogSoftmax",
    ]
    out = model(torch.rand(3, 1, 28, 28))
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(3))


def test_seed_3v7_is_one_sigmoid_neuron_with_standard_normal_weights():
    preset = get_preset("seed-3v7")
    torch.manual_seed(0)
    model = build(preset.spec)
    linear = model[1]
    assert (linear.in_features, linear.out_features) == (784, 1)
    assert isinstance(model[-1], nn.Sigmoid)
    assert (
        0.9 < float(linear.weight.detach().std()) < 1.1
    )  # randn, not PyTorch's small uniform init
    assert parameter_count(preset.spec) == 785  # counted on the meta device, with nothing drawn
    assert (
        preset.config.optimizer == "sgd"
        and preset.config.full_batch
        and preset.config.iterations == 2000
    )


def test_every_preset_builds_and_maps_digits_to_outputs():
    for name, preset in PRESETS.items():
        model = build(preset.spec)
        out = model(torch.rand(2, 1, 28, 28))
        assert out.shape == (2, preset.spec.outputs), name


def test_multiply_adds_count_convolutions_and_linears():
    spec = ModelSpec(conv=[ConvLayer(4, 3, "same", pool="max")], dense=[DenseLayer(16)])
    expected = 28 * 28 * 4 * 1 * 9 + (4 * 14 * 14) * 16 + 16 * 10
    assert multiply_adds(spec) == expected


def test_summary_is_print_model():
    spec = get_preset("lenet5").spec
    assert summary(spec) == str(build(spec))
    assert "Conv2d(1, 6, kernel_size=(5, 5)" in summary(spec)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="seed-mlp-128"):
        get_preset("resnet")


def test_a_separable_convolution_filters_each_channel_then_mixes_them():
    spec = ModelSpec(
        conv=[
            ConvLayer(4, 3, "same", pool="max"),
            ConvLayer(8, 3, "valid", pool="none", separable=True),
        ],
        dense=[],
    )
    model = build(spec)
    depthwise, pointwise = model[3], model[4]
    assert (depthwise.in_channels, depthwise.out_channels, depthwise.groups) == (4, 4, 4)
    assert depthwise.bias is None and pointwise.kernel_size == (1, 1)
    # 4 filters of 3×3 (no bias), then 4→8 mixing with a bias each, then 8·12·12 → 10
    conv1 = 4 * 9 + 4
    separable = 4 * 9 + 4 * 8 + 8
    assert parameter_count(spec) == conv1 + separable + 8 * 12 * 12 * 10 + 10
    # 28×28 pixels, pooled to 14; the separable one gives 12×12 from 14×14
    expected = 28 * 28 * 4 * 9 + 12 * 12 * 4 * (9 + 8) + 8 * 12 * 12 * 10
    assert multiply_adds(spec) == expected
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_global_average_pooling_gives_one_feature_per_channel():
    spec = ModelSpec(conv=[ConvLayer(6, 3, "same", pool="max")], dense=[], global_pool=True)
    model = build(spec)
    assert parameter_count(spec) == 6 * 9 + 6 + 6 * 10 + 10
    x = torch.rand(3, 1, 28, 28)
    features = model[:-1](x)  # everything before the output layer
    maps = model[:3](x)  # conv, activation, pool
    torch.testing.assert_close(features, maps.mean(dim=(2, 3)))
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_a_spec_saved_before_separable_and_global_pool_existed_still_loads():
    data = ModelSpec(conv=[ConvLayer(4)], dense=[]).to_dict()
    del data["global_pool"]
    del data["conv"][0]["separable"]
    spec = ModelSpec.from_dict(data)
    assert not spec.global_pool and not spec.conv[0].separable


def test_tiny_stays_under_1000_parameters():
    assert parameter_count(get_preset("tiny").spec) <= 1000
