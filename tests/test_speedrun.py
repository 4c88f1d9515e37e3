"""The speedrun's parts: pool-first blocks, Adam's betas, one-cycle without the momentum cycle,
the channels-last step, and the speedrun preset itself on the real data."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.data.mnist import make_task
from core.export.network import net_source
from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, build
from core.spec.presets import get_preset
from core.train.engines import make_optimizer, make_schedule
from core.train.run import attach_standard_callbacks, train
from core.train.trainer import Trainer
from ui.shared import share


def test_a_pool_first_block_pools_then_activates_then_normalises():
    spec = ModelSpec(conv=[ConvLayer(4, 3, batch_norm=True, pool_first=True)], dense=[])
    kinds = [type(m) for m in build(spec)][:4]
    assert kinds == [nn.Conv2d, nn.MaxPool2d, nn.ReLU, nn.BatchNorm2d]
    default = ModelSpec(conv=[ConvLayer(4, 3, batch_norm=True)], dense=[])
    assert [type(m) for m in build(default)][:4] == [
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.MaxPool2d,
    ]


def test_the_exported_source_keeps_the_pool_first_order():
    source = net_source(ModelSpec(conv=[ConvLayer(4, 3, batch_norm=True, pool_first=True)]))
    pool, relu, norm = (source.index(s) for s in ("max_pool2d", "F.relu", "conv1_bn(x)"))
    assert pool < relu < norm


def test_a_link_carries_pool_first_and_the_betas():
    spec, config = get_preset("lenet5").fresh()
    spec.conv[1].pool_first = True
    config.optimizer, config.beta1, config.beta2, config.cycle_momentum = "adam", 0.7, 0.9, False
    params = share.encode(spec, config, "lenet5")
    first, second = params["conv"].split("~")
    assert second.endswith("-pf") and not first.endswith("-pf")
    assert params["beta1"] == "0.7" and params["cycle_momentum"] == "0"
    assert share.decode(params) == ("lenet5", spec, config)


def test_betas_reach_adam_and_stay_when_one_cycle_does_not_cycle_momentum():
    model = build(ModelSpec(dense=[DenseLayer(8)]))
    config = TrainConfig(optimizer="adam", beta1=0.7, beta2=0.9, schedule="onecycle", lr=0.01)
    config.cycle_momentum = False
    optimizer = make_optimizer(model, config)
    schedule = make_schedule(optimizer, config, 100, 10)
    for _ in range(50):
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["betas"] == (0.7, 0.9)
    config.cycle_momentum = True  # PyTorch's default: β₁ follows the cycle instead
    optimizer = make_optimizer(model, config)
    make_schedule(optimizer, config, 100, 10)
    assert optimizer.param_groups[0]["betas"][0] == pytest.approx(0.95)


@pytest.mark.parametrize("field", ["beta1", "beta2"])
def test_betas_out_of_range_are_refused(field):
    with pytest.raises(ValueError, match=f"{field}: 1.5 must be a number"):
        TrainConfig(**{field: 1.5}).validate()


def test_the_channels_last_step_computes_what_the_default_layout_does(mnist):
    # the trainer puts a convnet in channels-last on the CPU: the same arithmetic, reordered
    spec = ModelSpec(conv=[ConvLayer(8, 5, "valid", batch_norm=True, pool_first=True)], dense=[])
    config = TrainConfig(optimizer="adam", batch_size=64, iterations=5, val_fraction=0.0)
    task = make_task(mnist, train_fraction=0.01, val_fraction=0.0)
    fast = Trainer(spec, config, task)
    assert fast.model[0].weight.is_contiguous(memory_format=torch.channels_last)
    plain = build(spec)
    plain.load_state_dict(fast.model.state_dict())
    x = fast.x_train[:64]
    assert torch.allclose(fast.model(x), plain(x), rtol=1e-4, atol=1e-4)
    result = fast.run()
    assert result.model[0].weight.is_contiguous()  # saved and served in the default layout


def test_the_speedrun_preset_passes_98_5_percent_in_one_seeded_run(mnist):
    spec, config = get_preset("speedrun").fresh()
    task = make_task(mnist, tuple(config.classes), config.train_fraction, config.val_fraction)
    result = train(spec, config, task, probes=False)
    assert result.test_accuracy >= 0.985, result.test_accuracy


def test_the_lean_step_trains_a_dense_network_as_the_plain_one_does(mnist):
    # gathered batches are the same batches; the fused update is the same arithmetic in one pass
    from core.train.engines import LEAN_STEP, PLAIN_STEP

    spec, config = get_preset("seed-mlp-128").fresh()
    config.iterations = 60
    task = make_task(mnist, train_fraction=0.1)
    plain = attach_standard_callbacks(Trainer(spec, config, task, step=PLAIN_STEP), False).run()
    lean = attach_standard_callbacks(Trainer(spec, config, task, step=LEAN_STEP), False).run()
    losses = [(a.loss, b.loss) for a, b in zip(plain.steps, lean.steps, strict=True)]
    assert len(losses) == 60
    assert max(abs(a - b) for a, b in losses) < 1e-5


def test_the_fused_update_is_used_where_pytorch_has_one():
    from core.train.engines import make_optimizer

    model = build(ModelSpec(dense=[DenseLayer(8)]))
    for name, fused in (("adam", True), ("adamw", True), ("sgd", True), ("rmsprop", None)):
        optimizer = make_optimizer(model, TrainConfig(optimizer=name), fused=True)
        assert optimizer.defaults.get("fused") == fused, name
    assert not make_optimizer(model, TrainConfig(), fused=False).defaults.get("fused")
