"""Network specifications: a JSON-friendly dataclass, its validation, and the nn.Module it builds."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn

from core.spec.image import IMAGE_SIDE
from core.spec.quote import quoted

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}
OUTPUT_HEADS = ("logits", "log_softmax", "softmax", "sigmoid")
POOLS = ("none", "max", "avg")
PADDINGS = ("same", "valid")
INITS = ("default", "randn")

MAX_DENSE_LAYERS = 8
MAX_CONV_LAYERS = 6
# A sanity bound that also keeps a hand-edited spec.json from naming a network of hundreds of
# gigabytes. Within the bounds, whether a network fits is core.spec.budget's call: it depends on the
# batch size, the optimizer and the convolutions' output, and is refused with the bytes needed.
MAX_WIDTH = 4096
MAX_CHANNELS = 256
MAX_DROPOUT = 0.9


def check_choice(name: str, value: str, choices) -> None:
    """Raise ValueError naming the field when value is not one of choices."""
    if value not in choices:
        raise ValueError(f"{name}: {quoted(value)} is not one of {', '.join(choices)}")


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: {quoted(value)} is outside the allowed range {low}..{high}")


def _check_dropout(name: str, value) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 <= value <= MAX_DROPOUT
    ):
        raise ValueError(f"{name}: {quoted(value)} is outside the allowed range 0.0..{MAX_DROPOUT}")


def _check_flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: {quoted(value)} must be true or false")


def strict_from_dict(cls, data: dict, where: str):
    """Build dataclass cls from data, refusing unknown keys with a message naming them."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
        )
    return cls(**data)


@dataclass
class ConvLayer:
    """One convolution block: conv, optional batch norm, activation, optional pooling and dropout.

    With pool_first the order is conv, pool, activation, batch norm: the activation and the
    norm then touch a quarter of the pixels, which is what fast MNIST speedruns do.

    A separable convolution (MobileNet's depthwise-separable) filters each input channel on its
    own with one k×k kernel, then mixes channels with a 1×1 convolution: k² + C_out weights per
    input channel instead of k² · C_out, which is how the smallest accurate MNIST nets are built.
    """

    channels: int = 32
    kernel: int = 3
    padding: str = "same"
    activation: str = "relu"
    pool: str = "max"
    batch_norm: bool = False
    dropout: float = 0.0
    pool_first: bool = False
    separable: bool = False

    def validate(self, where: str) -> None:
        """Raise ValueError naming the first field that is out of range."""
        _check_int(f"{where}.channels", self.channels, 1, MAX_CHANNELS)
        _check_int(f"{where}.kernel", self.kernel, 1, 9)
        check_choice(f"{where}.padding", self.padding, PADDINGS)
        check_choice(f"{where}.activation", self.activation, ACTIVATIONS)
        check_choice(f"{where}.pool", self.pool, POOLS)
        _check_flag(f"{where}.batch_norm", self.batch_norm)
        _check_dropout(f"{where}.dropout", self.dropout)
        _check_flag(f"{where}.pool_first", self.pool_first)
        _check_flag(f"{where}.separable", self.separable)


@dataclass
class DenseLayer:
    """One hidden dense block: linear, optional batch norm, activation, dropout."""

    width: int = 128
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False

    def validate(self, where: str) -> None:
        """Raise ValueError naming the first field that is out of range."""
        _check_int(f"{where}.width", self.width, 1, MAX_WIDTH)
        check_choice(f"{where}.activation", self.activation, ACTIVATIONS)
        _check_dropout(f"{where}.dropout", self.dropout)
        _check_flag(f"{where}.batch_norm", self.batch_norm)


@dataclass
class ModelSpec:
    """A whole network: optional conv stack, hidden dense layers, then an output head.

    With global_pool the conv stack's last maps are averaged to one number per channel (global
    average pooling) instead of flattened: the dense layers then see C features, not C·H·W.
    """

    dense: list[DenseLayer] = field(default_factory=lambda: [DenseLayer(128), DenseLayer(128)])
    conv: list[ConvLayer] = field(default_factory=list)
    outputs: int = 10
    output: str = "logits"
    init: str = "default"
    global_pool: bool = False

    def validate(self) -> ModelSpec:
        """Return self if every field is in range, else raise ValueError naming the field."""
        for name in ("dense", "conv"):
            if not isinstance(getattr(self, name), list):
                raise ValueError(f"{name}: {quoted(getattr(self, name))} is not a list of layers")
        if len(self.conv) > MAX_CONV_LAYERS:
            raise ValueError(
                f"conv: {len(self.conv)} layers is outside the allowed range 0..{MAX_CONV_LAYERS}"
            )
        if len(self.dense) > MAX_DENSE_LAYERS:
            raise ValueError(
                f"dense: {len(self.dense)} layers is outside the allowed range 0..{MAX_DENSE_LAYERS}"
            )
        for i, layer in enumerate(self.conv):
            layer.validate(f"conv[{i}]")
        for i, layer in enumerate(self.dense):
            layer.validate(f"dense[{i}]")
        _check_int("outputs", self.outputs, 1, 10)
        check_choice("output", self.output, OUTPUT_HEADS)
        check_choice("init", self.init, INITS)
        _check_flag("global_pool", self.global_pool)
        if self.global_pool and not self.conv:
            raise ValueError(
                "global_pool: averages convolution maps; the network has no convolutions"
            )
        if self.outputs == 1 and self.output in ("softmax", "log_softmax"):
            raise ValueError(
                f"output: {quoted(self.output)} over a single output is constant; use 'sigmoid' or 'logits'"
            )
        feature_shapes(self)  # raises if the convolutions shrink the image to nothing
        return self

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        """Build and validate a spec from a dict, refusing unknown fields and a spec with no layers.

        Every network ends in its output layer, so `"dense": []` with no convolutions is a
        linear classifier (the seed-3v7 preset). A dict that states no layers at all (no
        "dense", no "conv", no "outputs", e.g. an empty imported spec) is refused rather than
        guessed: it is the one "network with no layers" there is.
        """
        if not isinstance(data, dict):
            raise ValueError(f"model: expected an object, got {type(data).__name__}")
        if not {"dense", "conv", "outputs"} & set(data):
            raise ValueError(
                "dense: the network has no layers; give its hidden layers under 'dense' "
                "([] for none) and its output layer under 'outputs' (1..10)"
            )
        data = dict(data)
        for name, layer_cls in (("dense", DenseLayer), ("conv", ConvLayer)):
            layers = data.get(name, [])
            if not isinstance(layers, list):
                raise ValueError(f"{name}: {quoted(layers)} is not a list of layers")
            data[name] = [
                strict_from_dict(layer_cls, layer, f"{name}[{i}]") for i, layer in enumerate(layers)
            ]
        return strict_from_dict(cls, data, "model").validate()

    def to_json(self) -> str:
        """Return the spec as JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Parse and validate a spec from JSON text."""
        return cls.from_dict(json.loads(text))


def feature_shapes(spec: ModelSpec) -> list[tuple[int, int, int]]:
    """Return (channels, height, width) after each conv block, raising if the image vanishes."""
    channels, size, shapes = 1, IMAGE_SIDE, []
    for i, layer in enumerate(spec.conv):
        if layer.padding == "valid":
            size = size - layer.kernel + 1
        if layer.pool != "none":
            size //= 2
        if size < 1:
            raise ValueError(
                f"conv[{i}]: the image shrinks to nothing here; use padding 'same', a smaller kernel or less pooling"
            )
        channels = layer.channels
        shapes.append((channels, size, size))
    return shapes


def flat_features(spec: ModelSpec) -> int:
    """Return the number of features entering the first dense layer."""
    shapes = feature_shapes(spec)
    if not shapes:
        return IMAGE_SIDE * IMAGE_SIDE
    c, h, w = shapes[-1]
    return c if spec.global_pool else c * h * w


class DepthwiseConv2d(nn.Conv2d):
    """The first step of a separable convolution: one k×k filter per channel, no bias.

    Its own class only so that it can be told apart (probes name it 'conv N depthwise');
    it computes exactly what nn.Conv2d with groups=channels does.
    """

    def __init__(self, channels: int, kernel: int, padding) -> None:
        super().__init__(channels, channels, kernel, padding=padding, groups=channels, bias=False)


def _conv_block(layer: ConvLayer, in_channels: int) -> list[nn.Module]:
    padding = layer.kernel // 2 if layer.padding == "same" else 0
    if layer.padding == "same" and layer.kernel % 2 == 0:
        padding = "same"  # even kernels need PyTorch's asymmetric padding
    pool: list[nn.Module] = []
    if layer.pool == "max":
        pool = [nn.MaxPool2d(2)]
    elif layer.pool == "avg":
        pool = [nn.AvgPool2d(2)]
    norm = [nn.BatchNorm2d(layer.channels)] if layer.batch_norm else []
    activation = [ACTIVATIONS[layer.activation]()]
    if layer.separable:
        # the depthwise step has no bias: the pointwise one that follows adds one per channel
        modules: list[nn.Module] = [
            DepthwiseConv2d(in_channels, layer.kernel, padding),
            nn.Conv2d(in_channels, layer.channels, 1),
        ]
    else:
        modules = [nn.Conv2d(in_channels, layer.channels, layer.kernel, padding=padding)]
    modules += pool + activation + norm if layer.pool_first else norm + activation + pool
    if layer.dropout > 0:
        modules.append(nn.Dropout2d(layer.dropout))
    return modules


def _dense_block(layer: DenseLayer, in_features: int) -> list[nn.Module]:
    modules: list[nn.Module] = [nn.Linear(in_features, layer.width)]
    if layer.batch_norm:
        modules.append(nn.BatchNorm1d(layer.width))
    modules.append(ACTIVATIONS[layer.activation]())
    if layer.dropout > 0:
        modules.append(nn.Dropout(layer.dropout))
    return modules


def build(spec: ModelSpec) -> nn.Sequential:
    """Return the nn.Sequential the spec describes; it takes (N, 1, 28, 28) images."""
    spec.validate()
    modules: list[nn.Module] = []
    channels = 1
    for layer in spec.conv:
        modules += _conv_block(layer, channels)
        channels = layer.channels
    if spec.global_pool:
        modules.append(nn.AdaptiveAvgPool2d(1))
    modules.append(nn.Flatten())
    features = flat_features(spec)
    for layer in spec.dense:
        modules += _dense_block(layer, features)
        features = layer.width
    modules.append(nn.Linear(features, spec.outputs))
    if spec.output == "log_softmax":
        modules.append(nn.LogSoftmax(dim=1))
    elif spec.output == "softmax":
        modules.append(nn.Softmax(dim=1))
    elif spec.output == "sigmoid":
        modules.append(nn.Sigmoid())
    model = nn.Sequential(*modules)
    if spec.init == "randn":
        # the from-scratch tutorials draw every weight and bias from a standard normal
        # (not on the meta device, where only shapes count: its normal_ imports torch's
        # compiler, a second of a command line's start)
        with torch.no_grad():
            for parameter in model.parameters():
                if not parameter.is_meta:
                    parameter.normal_(0.0, 1.0)
    return model


def _build_on_meta(spec: ModelSpec) -> nn.Sequential:
    # tensors on the meta device have shapes but no storage: a network far too large for
    # memory can still be counted and printed (the Build page does both before any check)
    with torch.device("meta"):
        return build(spec)


def parameter_count(spec: ModelSpec) -> int:
    """Return the number of trainable parameters (weights, biases, batch-norm scales)."""
    return sum(p.numel() for p in _build_on_meta(spec).parameters() if p.requires_grad)


def multiply_adds(spec: ModelSpec) -> int:
    """Return multiply-adds per sample in convolutions and linear layers (the dominant cost)."""
    total, channels, size = 0, 1, IMAGE_SIDE
    for layer in spec.conv:
        out = size if layer.padding == "same" else size - layer.kernel + 1
        if layer.separable:  # one k×k filter per input channel, then a 1×1 mix
            total += out * out * channels * (layer.kernel * layer.kernel + layer.channels)
        else:
            total += out * out * layer.channels * channels * layer.kernel * layer.kernel
        size = out // 2 if layer.pool != "none" else out
        channels = layer.channels
    features = flat_features(spec)
    for layer in spec.dense:
        total += features * layer.width
        features = layer.width
    return total + features * spec.outputs


def summary(spec: ModelSpec) -> str:
    """Return the print(model) text of the built network."""
    return str(_build_on_meta(spec))


def network_text(spec: ModelSpec) -> str:
    """Return the network as one line for people: '784 → 128 → 10', '1×28×28 → conv 32 → 10'."""
    stages = [f"conv {layer.channels}" for layer in spec.conv] + [
        str(layer.width) for layer in spec.dense
    ]
    first = f"1×{IMAGE_SIDE}×{IMAGE_SIDE}" if spec.conv else str(IMAGE_SIDE * IMAGE_SIDE)
    return " → ".join([first, *stages, str(spec.outputs)])


def layer_sizes(spec: ModelSpec) -> list[int]:
    """Return the width of each dense stage: inputs, hidden widths, outputs."""
    return [flat_features(spec), *(layer.width for layer in spec.dense), spec.outputs]
