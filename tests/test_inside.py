"""core.analysis.inside: weights as images, activations, saliency, PCA and the Build page's equations."""

from __future__ import annotations

import torch

from core.analysis import inside
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, build
from core.spec.presets import get_preset


def _dense_spec() -> ModelSpec:
    return ModelSpec(dense=[DenseLayer(32), DenseLayer(16)])


def _conv_spec() -> ModelSpec:
    return ModelSpec(conv=[ConvLayer(6, 5, pool="max")], dense=[DenseLayer(16)])


def _image(seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_first_layer_weights_of_a_dense_network_are_one_28x28_image_per_neuron():
    spec = _dense_spec()
    model = build(spec)
    weights = inside.first_layer_weights(model, spec)
    assert weights.shape == (32, 28, 28)
    assert torch.equal(weights[3].flatten(), model[1].weight[3].detach())


def test_first_layer_weights_of_a_conv_network_are_one_kxk_image_per_filter():
    spec = _conv_spec()
    assert inside.first_layer_weights(build(spec), spec).shape == (6, 5, 5)


def test_layer_activations_cover_every_module_in_order():
    model = build(_conv_spec())
    activations = inside.layer_activations(model, _image())
    assert len(activations) == len(model)
    assert activations[-1][1].shape == (10,)
    assert [name.split(": ")[1] for name, _ in activations] == [type(m).__name__ for m in model]


def test_saliency_is_a_non_negative_non_zero_28x28_map():
    model = build(_dense_spec())
    heat = inside.saliency(model, _image(), class_index=3)
    assert heat.shape == (28, 28)
    assert (heat >= 0).all()
    assert heat.sum() > 0


def test_saliency_uses_the_score_before_softmax():
    spec = _dense_spec()
    spec.output = "softmax"
    model = build(spec)
    heat = inside.saliency(model, _image(), class_index=0, samples=1)
    # the input gradient of the last Linear's score, computed by hand
    x = _image().requires_grad_(True)
    model[:-1](x)[0, 0].backward()
    assert torch.allclose(heat, x.grad.abs().reshape(28, 28))


def test_the_smoothed_saliency_is_the_mean_over_noisy_copies_and_calmer():
    model = build(_dense_spec())
    image = _image()
    smooth = inside.saliency(model, image, class_index=3)
    assert torch.equal(smooth, inside.saliency(model, image, class_index=3))  # repeatable
    plain = inside.saliency(model, image, class_index=3, samples=1)
    assert smooth.shape == plain.shape == (28, 28) and not torch.allclose(smooth, plain)

    def roughness(heat):  # how much neighbouring pixels differ, for the map's own scale
        return float((heat[1:] - heat[:-1]).abs().mean() / heat.mean())

    assert roughness(smooth) < roughness(plain)


def test_saliency_rejects_a_class_outside_the_outputs():
    try:
        inside.saliency(build(_dense_spec()), _image(), class_index=10)
    except ValueError as exc:
        assert "class_index" in str(exc)
    else:
        raise AssertionError("expected a ValueError")


def test_last_hidden_features_are_the_input_to_the_final_linear():
    model = build(_dense_spec())
    features = inside.last_hidden_features(model, torch.rand(5, 1, 28, 28))
    assert features.shape == (5, 16)


def test_pca_recovers_a_known_dominant_direction():
    generator = torch.Generator().manual_seed(0)
    direction = torch.tensor([3.0, 4.0, 0.0, 0.0, 0.0]) / 5.0
    along = torch.randn(500, 1, generator=generator) * 10.0
    data = along * direction + 0.5 * torch.randn(500, 5, generator=generator) + 7.0
    coords, explained = inside.pca_2d(data)
    assert coords.shape == (500, 2)
    assert explained[0] > 0.9 > explained[1] > 0
    # the first coordinate is the position along the known direction, up to sign
    correlation = torch.corrcoef(torch.stack([coords[:, 0], along[:, 0]]))[0, 1]
    assert abs(correlation) > 0.99


def test_layer_equations_fill_in_the_shapes_of_seed_mlp_128():
    spec, config = get_preset("seed-mlp-128").fresh()
    text = "\n".join(inside.layer_equations(spec, config.batch_size))
    assert "128 \\times 784" in text
    assert "10 \\times 128" in text
    assert "64 \\times 784" in text  # the input batch
    assert "\\mathrm{softmax}(Z_3) - Y" in text
    assert "\\delta_1^\\top A_{0}" in text


def test_layer_equations_show_the_mse_gradient():
    spec, _ = get_preset("seed-mlp-128").fresh()
    text = "\n".join(inside.layer_equations(spec, "B", loss="mse"))
    assert "2(\\hat Y - Y)" in text


def test_layer_equations_refuse_a_conv_network():
    try:
        inside.layer_equations(_conv_spec(), 64)
    except ValueError as exc:
        assert "spec.conv" in str(exc)
    else:
        raise AssertionError("expected a ValueError")
