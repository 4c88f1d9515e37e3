"""core.runs.statedict: tutorials' state_dict files become runs of a chosen network, or are refused."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from core.analysis.evaluation import evaluate_probabilities, predict_proba
from core.data.mnist import make_task, to_float
from core.runs.listing import list_runs
from core.runs.statedict import import_state_dict, load_tensors
from core.runs.store import InvalidRun, load_run
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, build
from core.spec.presets import get_preset


class QuickstartNetwork(nn.Module):
    """The PyTorch quickstart's model: keys linear_relu_stack.0.weight, .2., .4."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
        )

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


class TutorialMLP(nn.Module):
    """A typical tutorial MLP: keys fc1, fc2, fc3."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = torch.relu(self.fc1(x.view(-1, 784)))
        return self.fc3(torch.relu(self.fc2(x)))


class ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py's Net: two convolutions, max pool, two dense layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(torch.relu(self.fc1(x)))
        return torch.log_softmax(self.fc2(x), dim=1)


EXAMPLES_SPEC = ModelSpec(
    conv=[
        ConvLayer(32, 3, "valid", "relu", "none"),
        ConvLayer(64, 3, "valid", "relu", "max", dropout=0.25),
    ],
    dense=[DenseLayer(128, "relu", 0.5)],
    output="log_softmax",
)


def saved_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def same_outputs(tutorial: nn.Module, run) -> bool:
    images = torch.rand(16, 1, 28, 28)
    with torch.no_grad():
        return torch.allclose(tutorial.eval()(images), run.model(images), atol=1e-5)


def test_quickstart_weights_load_into_the_512_preset_by_order(tmp_path):
    torch.manual_seed(0)
    tutorial = QuickstartNetwork()
    spec, config = get_preset("seed-mlp-512").fresh()
    run = import_state_dict(
        saved_bytes(tutorial.state_dict()), spec, config, "quickstart", tmp_path
    )
    assert same_outputs(tutorial, run)


def test_a_data_parallel_prefix_is_stripped(tmp_path):
    torch.manual_seed(0)
    tutorial = TutorialMLP()
    state = {f"module.{key}": value for key, value in tutorial.state_dict().items()}
    spec, config = get_preset("seed-mlp-128").fresh()
    run = import_state_dict(saved_bytes(state), spec, config, "parallel", tmp_path)
    assert same_outputs(tutorial, run)


def test_the_pytorch_examples_convnet_loads_into_its_spec(tmp_path):
    torch.manual_seed(0)
    tutorial = ExamplesNet()
    run = import_state_dict(saved_bytes(tutorial.state_dict()), EXAMPLES_SPEC, None, "ex", tmp_path)
    assert same_outputs(tutorial, run)


def test_a_checkpoint_dict_is_unwrapped(tmp_path):
    torch.manual_seed(0)
    tutorial = TutorialMLP()
    optimizer = torch.optim.Adam(tutorial.parameters())
    checkpoint = {
        "epoch": 3,
        "model_state_dict": tutorial.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
    }
    spec, config = get_preset("seed-mlp-128").fresh()
    run = import_state_dict(saved_bytes(checkpoint), spec, config, "checkpoint", tmp_path)
    assert same_outputs(tutorial, run)


def test_own_key_names_load_by_name_with_batch_norm_statistics(tmp_path):
    spec, config = get_preset("small-cnn").fresh()
    torch.manual_seed(0)
    original = build(spec)
    with torch.no_grad():
        for buffer in original.buffers():
            if buffer.is_floating_point():
                buffer.uniform_(0.5, 1.5)  # running statistics that a default model lacks
    run = import_state_dict(saved_bytes(original.state_dict()), spec, config, "own", tmp_path)
    assert same_outputs(original, run)


def test_an_imported_run_is_an_ordinary_run_scored_on_the_test_set(tmp_path, mnist):
    torch.manual_seed(0)
    tutorial = TutorialMLP()
    spec, config = get_preset("seed-mlp-128").fresh()
    run = import_state_dict(
        saved_bytes(tutorial.state_dict()),
        spec,
        config,
        "seed-mlp-128",
        tmp_path,
        mnist=mnist,
        file_name="mnist_mlp.pt",
    )
    assert run.summary["status"] == "imported"
    assert run.summary["imported_from"] == "mnist_mlp.pt"
    test = make_task(mnist).test
    expected = evaluate_probabilities(
        predict_proba(tutorial, to_float(test.images), "none", "logits"), test.labels, run.classes
    )
    assert run.summary["test_accuracy"] == pytest.approx(expected.accuracy)
    assert [s["run_id"] for s in list_runs(tmp_path)] == [run.run_id]
    assert same_outputs(tutorial, load_run(run.path))


def test_without_data_the_test_scores_are_left_empty(tmp_path):
    spec, config = get_preset("seed-mlp-128").fresh()
    run = import_state_dict(saved_bytes(TutorialMLP().state_dict()), spec, config, "x", tmp_path)
    assert run.summary["test_accuracy"] is None and run.summary["test_loss"] is None


def test_a_shape_that_does_not_fit_is_refused_naming_both_keys_and_shapes(tmp_path):
    spec, config = get_preset("seed-mlp-512").fresh()
    with pytest.raises(InvalidRun) as refused:
        import_state_dict(saved_bytes(TutorialMLP().state_dict()), spec, config, "x", tmp_path)
    message = str(refused.value)
    assert "fc1.weight has shape (128, 784)" in message
    assert "1.weight needs (512, 784)" in message
    assert list_runs(tmp_path) == []


def test_a_from_scratch_matrix_gets_a_transpose_hint(tmp_path):
    spec, config = get_preset("seed-3v7").fresh()
    state = {"weights": torch.randn(784, 1), "bias": torch.randn(1)}
    with pytest.raises(InvalidRun, match=r"shape \(784, 1\).*save w\.T"):
        import_state_dict(saved_bytes(state), spec, config, "x", tmp_path)
    state["weights"] = state["weights"].T.contiguous()
    run = import_state_dict(saved_bytes(state), spec, config, "x", tmp_path)
    assert torch.equal(run.model[1].weight, state["weights"])


def test_too_many_or_too_few_tensors_are_refused_by_name(tmp_path):
    spec, config = get_preset("seed-mlp-128").fresh()
    state = TutorialMLP().state_dict()
    with pytest.raises(InvalidRun, match="the first one too many is extra"):
        import_state_dict(
            saved_bytes({**state, "extra": torch.zeros(1)}), spec, config, "x", tmp_path
        )
    del state["fc3.bias"]
    with pytest.raises(InvalidRun, match="nothing in the file fits its 5.bias"):
        import_state_dict(saved_bytes(state), spec, config, "x", tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        (torch.zeros(3), "holds a Tensor, not a state_dict"),
        ([torch.zeros(3)], "holds a list, not a state_dict"),
        ({}, "holds a dict, not a state_dict"),
        ({"fc1.weight": [1.0, 2.0]}, "'fc1.weight' holds a list"),
        ({"fc1.weight": 3}, "'fc1.weight' holds a int"),
        ({1: torch.zeros(2)}, "'1' holds a Tensor"),
    ],
)
def test_anything_but_a_mapping_of_names_to_tensors_is_refused(content, message):
    with pytest.raises(InvalidRun, match=message):
        load_tensors(saved_bytes(content))
