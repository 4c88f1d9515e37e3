"""The network as source: a `Net(nn.Module)` class with a spec's layers written out, and the
loss and prediction that go with its head.

Each layer becomes the lines its `__init__` and `forward` need, written as a person would
(F.relu, nn.Conv2d with its padding), so that the exported class reads like pytorch/examples.
"""

from __future__ import annotations

from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, flat_features

ACTIVATION_CALLS = {
    "relu": "F.relu({})",
    "leaky_relu": "F.leaky_relu({})",
    "gelu": "F.gelu({})",
    "elu": "F.elu({})",
    "tanh": "torch.tanh({})",
    "sigmoid": "torch.sigmoid({})",
    "identity": "{}",
}
HEAD_CALLS = {
    "logits": "{}",
    "log_softmax": "F.log_softmax({}, dim=1)",
    "softmax": "F.softmax({}, dim=1)",
    "sigmoid": "torch.sigmoid({})",
}


def _conv_lines(index: int, layer: ConvLayer, in_channels: int) -> tuple[list[str], list[str]]:
    """Return (__init__ lines, forward lines) for one convolution block."""
    name = f"conv{index}"
    if layer.padding == "valid":
        padding = "0"
    elif layer.kernel % 2 == 0:
        padding = '"same"'
    else:
        padding = str(layer.kernel // 2)
    if layer.separable:  # depthwise (one filter per input channel), then a 1×1 mix
        init = [
            f"self.{name}_depthwise = nn.Conv2d({in_channels}, {in_channels}, {layer.kernel}, "
            f"padding={padding}, groups={in_channels}, bias=False)",
            f"self.{name} = nn.Conv2d({in_channels}, {layer.channels}, 1)",
        ]
    else:
        init = [
            f"self.{name} = nn.Conv2d({in_channels}, {layer.channels}, {layer.kernel}, padding={padding})"
        ]
    norm, activation, pool = [], [], []
    if layer.batch_norm:
        init.append(f"self.{name}_bn = nn.BatchNorm2d({layer.channels})")
        norm = [f"x = self.{name}_bn(x)"]
    if layer.activation != "identity":
        activation = ["x = " + ACTIVATION_CALLS[layer.activation].format("x")]
    if layer.pool != "none":
        pool = [f"x = F.{layer.pool}_pool2d(x, 2)"]
    forward = [f"x = self.{name}_depthwise(x)"] if layer.separable else []
    forward.append(f"x = self.{name}(x)")
    forward += pool + activation + norm if layer.pool_first else norm + activation + pool
    if layer.dropout > 0:
        init.append(f"self.{name}_dropout = nn.Dropout2d({layer.dropout:g})")
        forward.append(f"x = self.{name}_dropout(x)")
    return init, forward


def _dense_lines(index: int, layer: DenseLayer, in_features: int) -> tuple[list[str], list[str]]:
    """Return (__init__ lines, forward lines) for one hidden dense block."""
    name = f"fc{index}"
    init = [f"self.{name} = nn.Linear({in_features}, {layer.width})"]
    forward = [f"x = self.{name}(x)"]
    if layer.batch_norm:
        init.append(f"self.{name}_bn = nn.BatchNorm1d({layer.width})")
        forward.append(f"x = self.{name}_bn(x)")
    if layer.activation != "identity":
        forward.append("x = " + ACTIVATION_CALLS[layer.activation].format("x"))
    if layer.dropout > 0:
        init.append(f"self.{name}_dropout = nn.Dropout({layer.dropout:g})")
        forward.append(f"x = self.{name}_dropout(x)")
    return init, forward


def net_source(spec: ModelSpec) -> str:
    """Return the source of a `Net(nn.Module)` class with the spec's layers written out."""
    spec.validate()
    init: list[str] = []
    forward: list[str] = []
    channels = 1
    for i, layer in enumerate(spec.conv, start=1):
        lines = _conv_lines(i, layer, channels)
        init += lines[0]
        forward += lines[1]
        channels = layer.channels
    if spec.global_pool:
        forward.append("x = x.mean(dim=(2, 3))  # global average pooling: one number per channel")
    else:
        forward.append("x = torch.flatten(x, 1)")
    features = flat_features(spec)
    for i, layer in enumerate(spec.dense, start=1):
        lines = _dense_lines(i, layer, features)
        init += lines[0]
        forward += lines[1]
        features = layer.width
    init.append(f"self.out = nn.Linear({features}, {spec.outputs})")
    forward.append("x = self.out(x)")
    forward.append("return " + HEAD_CALLS[spec.output].format("x"))
    if spec.init == "randn":
        init += [
            "# every weight and bias drawn from a standard normal, as in the from-scratch tutorial",
            "for parameter in self.parameters():",
            "    nn.init.normal_(parameter, 0.0, 1.0)",
        ]
    body = "\n".join(f"        {line}" for line in init)
    steps = "\n".join(f"        {line}" for line in forward)
    return (
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"{body}\n\n"
        "    def forward(self, x):\n"
        f"{steps}\n"
    )


def loss_source(spec: ModelSpec, config: TrainConfig) -> str:
    """Return the source of `loss_fn(output, target)` and `predicted_class(output)` for the head."""
    if config.loss == "cross_entropy":
        body = "return F.cross_entropy(output, target)"
    elif config.loss == "nll":
        body = "return F.nll_loss(output, target)"
    elif spec.outputs == 1:
        body = (
            "# one output scores the first digit: target 1 for it, 0 for the other\n"
            "    return F.mse_loss(output[:, 0], (target == 0).float())"
        )
    else:
        body = f"return F.mse_loss(output, F.one_hot(target, {spec.outputs}).float())"
    predict = (
        "return (output[:, 0] < 0.5).long()  # a high score means the first digit"
        if spec.outputs == 1
        else "return output.argmax(dim=1)"
    )
    return (
        f"def loss_fn(output, target):\n    {body}\n\n\n"
        f"def predicted_class(output):\n    {predict}\n"
    )
