"""core.train.scratch: hand-written gradients equal autograd's, SGD equals torch's, training matches."""

from __future__ import annotations

import copy

import pytest
import torch

from core.data.mnist import make_task
from core.runs.listing import list_runs
from core.runs.store import load_run
from core.spec.compatible import check_compatible
from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, build
from core.spec.presets import get_preset
from core.train.engines import loss_fn
from core.train.job import Job
from core.train.run import train
from core.train.scratch import SGD, ScratchNet


def relative_error(mine: torch.Tensor, reference: torch.Tensor) -> float:
    return float((mine - reference).norm() / reference.norm().clamp_min(1e-30))


def float64_net(spec: ModelSpec, seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return build(spec).double()


def random_batch(k: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(7, 1, 28, 28, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, k if k > 1 else 2, (7,), generator=generator)
    return x, labels


CASES = [
    # (activations of the two hidden layers, outputs, output head, loss)
    *[((act, act), 10, "logits", "cross_entropy") for act in ("relu", "sigmoid", "tanh")],
    (("identity", "relu"), 10, "logits", "cross_entropy"),
    (("tanh", "identity"), 10, "log_softmax", "cross_entropy"),
    (("relu", "sigmoid"), 10, "sigmoid", "mse"),
    (("sigmoid", "tanh"), 1, "sigmoid", "mse"),
    (("relu", "tanh"), 10, "softmax", "mse"),
    (("tanh", "relu"), 3, "logits", "mse"),
    (("sigmoid", "relu"), 10, "log_softmax", "nll"),
]


@pytest.mark.parametrize(("activations", "outputs", "output", "loss"), CASES)
def test_hand_written_gradients_equal_autograd(activations, outputs, output, loss):
    spec = ModelSpec(
        dense=[DenseLayer(13, activations[0]), DenseLayer(11, activations[1])],
        outputs=outputs,
        output=output,
    )
    model = float64_net(spec)
    x, labels = random_batch(outputs)
    # a larger spread than the default init keeps every unit's derivative well away from zero
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    expected_loss = loss_fn(model(x), labels, loss, outputs)
    expected_loss.backward()
    expected = [(m.weight.grad, m.bias.grad) for m in model if isinstance(m, torch.nn.Linear)]

    value, y, grads = ScratchNet.from_model(spec, model).loss_and_gradients(x, labels, loss)

    assert not y.requires_grad and not grads[0][0].requires_grad
    assert relative_error(value, expected_loss.detach()) < 1e-12
    assert relative_error(y, model(x).detach()) < 1e-12
    assert len(grads) == 3
    for (dw, db), (ew, eb) in zip(grads, expected):
        assert dw.shape == ew.shape and db.shape == eb.shape
        assert relative_error(dw, ew) < 1e-6
        assert relative_error(db, eb) < 1e-6


@pytest.mark.parametrize(("momentum", "weight_decay"), [(0.0, 0.0), (0.9, 0.0), (0.5, 1e-2)])
def test_scratch_update_equals_torch_sgd(momentum, weight_decay):
    spec = ModelSpec(dense=[DenseLayer(13, "relu"), DenseLayer(11, "tanh")])
    reference = float64_net(spec)
    mine = copy.deepcopy(reference)
    optimizer = torch.optim.SGD(
        reference.parameters(), lr=0.05, momentum=momentum, weight_decay=weight_decay
    )
    net = ScratchNet.from_model(spec, mine)
    sgd = SGD(net, momentum, weight_decay)
    for seed in range(4):  # several steps, so the velocity matters
        x, labels = random_batch(10, seed=seed)
        optimizer.zero_grad()
        loss_fn(reference(x), labels, "cross_entropy", 10).backward()
        optimizer.step()
        _, _, grads = net.loss_and_gradients(x, labels, "cross_entropy")
        sgd.update(grads, 0.05)
    for p, q in zip(mine.parameters(), reference.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("spec", "changes", "field"),
    [
        (ModelSpec(conv=[ConvLayer()]), {}, "conv"),
        (ModelSpec(dense=[DenseLayer(16, "gelu")]), {}, "dense[0].activation"),
        (ModelSpec(dense=[DenseLayer(16), DenseLayer(8, "elu")]), {}, "dense[1].activation"),
        (ModelSpec(dense=[DenseLayer(16, dropout=0.2)]), {}, "dense[0].dropout"),
        (ModelSpec(dense=[DenseLayer(16, batch_norm=True)]), {}, "dense[0].batch_norm"),
        (ModelSpec(), {"optimizer": "adam"}, "optimizer"),
        (ModelSpec(), {"optimizer": "sgd", "schedule": "onecycle"}, "schedule"),
    ],
)
def test_unsupported_networks_and_settings_are_refused(spec, changes, field):
    config = TrainConfig(**{"optimizer": "sgd", "engine": "scratch", **changes})
    with pytest.raises(ValueError) as error:
        check_compatible(spec, config)
    assert str(error.value).startswith(field)
    check_compatible(spec, TrainConfig(**{"optimizer": "sgd", **changes}))  # autograd takes it


def test_gelu_message_names_the_choices():
    spec = ModelSpec(dense=[DenseLayer(16), DenseLayer(8, "gelu")])
    with pytest.raises(ValueError) as error:
        check_compatible(spec, TrainConfig(optimizer="sgd", engine="scratch"))
    assert str(error.value) == (
        "dense[1].activation: 'gelu' is not supported by the scratch engine; "
        "use relu, sigmoid, tanh or identity"
    )


def test_seed_3v7_trains_the_same_with_both_engines(mnist):
    spec, config = get_preset("seed-3v7").fresh()
    config.iterations, config.device = 50, "cpu"
    task = make_task(mnist, config.classes, config.train_fraction, config.val_fraction)
    autograd = train(spec, config, task)
    config.engine = "scratch"
    scratch = train(spec, config, task)
    mine, reference = [s.loss for s in scratch.steps], [s.loss for s in autograd.steps]
    assert len(mine) == len(reference) == 50
    assert mine == pytest.approx(reference, rel=1e-4)
    assert mine[-1] < mine[0]
    assert scratch.test_accuracy == pytest.approx(autograd.test_accuracy, abs=0.01)


@pytest.mark.parametrize("schedule", ["step", "cosine"])
def test_schedules_match_torch(mnist, schedule):
    spec = ModelSpec(dense=[DenseLayer(16, "sigmoid")])
    config = TrainConfig(
        optimizer="sgd",
        lr=0.5,
        batch_size=500,
        epochs=3,
        schedule=schedule,
        step_gamma=0.5,
        train_fraction=0.05,
        device="cpu",
    )
    task = make_task(mnist, train_fraction=0.05)
    reference = [s.lr for s in train(spec, config, task).steps]
    config.engine = "scratch"
    assert [s.lr for s in train(spec, config, task).steps] == pytest.approx(reference)


def test_scratch_mlp_learns_and_saves_like_any_run(data_dir, isolated_folders):
    spec, config = get_preset("seed-mlp-128").fresh()
    config.optimizer, config.lr, config.momentum = "sgd", 0.1, 0.9
    config.epochs, config.train_fraction, config.engine = 1, 0.2, "scratch"
    events = []
    job = Job.create(spec, config, "scratch mlp", data_dir, isolated_folders, events.append)
    job.run()
    assert job.state == "finished", job.error
    kinds = {e.kind for e in events}
    assert {"start", "step", "val", "epoch", "done"} <= kinds
    (summary,) = list_runs(isolated_folders)
    assert summary["test_accuracy"] > 0.9
    run = load_run(summary["path"])
    assert run.config.engine == "scratch"
    images = torch.rand(5, 1, 28, 28)
    assert run.predict_proba(images).shape == (5, 10)


def test_cli_refuses_scratch_with_adam_naming_the_field(capsys):
    from core.cli import main

    assert main(["train", "--preset", "seed-mlp-128", "--engine", "scratch"]) == 2
    assert "optimizer: engine 'scratch' requires optimizer 'sgd'" in capsys.readouterr().err
