"""core.analysis.backprop: one traced scratch step agrees with autograd; the Inside page walks through it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from core.analysis import backprop
from core.analysis.inside import layer_equations
from core.runs.store import load_run, save_run
from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, build
from core.spec.presets import get_preset
from core.train.scratch import Dense, ScratchNet
from ui.charts import inside_figures

APP = str(Path(__file__).resolve().parent.parent / "app.py")
INSIDE = "views/6_Inside.py"


def net(spec: ModelSpec, seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    model = build(spec)
    # a larger spread than the default init keeps every unit's derivative well away from zero
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    return model


def digit(seed: int = 1) -> torch.Tensor:
    return torch.randint(
        0, 256, (28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


CASES = [
    # (activations of the two hidden layers, outputs, output head, loss, label)
    (("relu", "tanh"), 10, "logits", "cross_entropy", 3),
    (("tanh", "sigmoid"), 10, "logits", "cross_entropy", 7),
    (("sigmoid", "relu"), 10, "log_softmax", "nll", 0),
    (("relu", "sigmoid"), 10, "sigmoid", "mse", 5),
    (("tanh", "relu"), 10, "softmax", "cross_entropy", 9),
    (("sigmoid", "tanh"), 1, "sigmoid", "mse", 1),
]


@pytest.mark.parametrize(("activations", "outputs", "output", "loss", "label"), CASES)
@pytest.mark.parametrize("normalization", ["none", "mnist"])
def test_traced_gradients_equal_autograd_in_float64(
    activations, outputs, output, loss, label, normalization
):
    spec = ModelSpec(
        dense=[DenseLayer(13, activations[0]), DenseLayer(11, activations[1])],
        outputs=outputs,
        output=output,
    )
    model, image = net(spec), digit()
    trace = backprop.trace_step(spec, model, image, label, loss, normalization)
    expected_loss, expected, input_grad = backprop.autograd_gradients(
        spec, model, image, label, loss, normalization
    )
    assert trace.loss == pytest.approx(expected_loss, rel=1e-12)
    assert [s.layer for s in trace.backward] == [3, 2, 1]
    for (dw, db), (ew, eb) in zip(trace.gradients(), expected, strict=True):
        assert dw.dtype == torch.float64 and dw.shape == ew.shape and db.shape == eb.shape
    assert backprop.max_gradient_difference(trace, expected, input_grad) < 1e-6


@pytest.mark.parametrize("name", ["seed-3v7", "seed-mlp-128", "seed-mlp-4layer"])
def test_the_presets_dense_networks_agree_with_autograd_with_their_own_head_and_loss(name):
    preset = get_preset(name)
    spec, config = preset.spec, preset.config
    torch.manual_seed(0)
    model, image = build(spec), digit(7)
    trace = backprop.trace_step(spec, model, image, 1, config.loss, config.normalization, 0.01)
    difference = backprop.check_against_autograd(spec, model, image, trace, config.normalization)
    assert difference < 1e-6
    assert len(trace.forward) == len(spec.dense) + 1


def test_the_apps_default_network_agrees_with_autograd_and_with_the_scratch_engine():
    spec = get_preset("seed-mlp-128").spec
    assert (spec.output, TrainConfig().loss) == ("logits", "cross_entropy")
    model, image = net(spec), digit(2)
    trace = backprop.trace_step(spec, model, image, 4)

    assert backprop.check_against_autograd(spec, model, image, trace) < 1e-6
    # the walk-through shows what the engine computes: ScratchNet's own backward, in float64
    layers = [Dense(stage.weight, stage.bias, stage.activation) for stage in trace.forward]
    engine = ScratchNet(layers, spec.output)
    x = backprop.network_input(image, "none")
    value, _, grads = engine.loss_and_gradients(x, torch.tensor([4]), "cross_entropy")
    assert float(value) == pytest.approx(trace.loss, rel=1e-12)
    for (dw, db), (tw, tb) in zip(grads, trace.gradients(), strict=True):
        assert torch.equal(dw, tw) and torch.equal(db, tb)


def test_traced_loss_is_torchs_cross_entropy_and_the_probabilities_its_softmax():
    spec = ModelSpec(dense=[DenseLayer(16, "relu")])
    model, image = net(spec), digit(3)
    trace = backprop.trace_step(spec, model, image, 6)
    with torch.no_grad():
        logits = model.double()(backprop.network_input(image, "none").reshape(1, 1, 28, 28))
    assert trace.loss == pytest.approx(float(F.cross_entropy(logits, torch.tensor([6]))), rel=1e-12)
    assert torch.allclose(trace.probabilities, torch.softmax(logits, 1)[0])
    assert trace.predicted == int(logits.argmax())


def test_traced_loss_is_torchs_nll_for_a_log_softmax_head():
    spec = ModelSpec(dense=[DenseLayer(16, "tanh")], output="log_softmax")
    model, image = net(spec), digit(4)
    trace = backprop.trace_step(spec, model, image, 2, "nll")
    with torch.no_grad():
        outputs = model.double()(backprop.network_input(image, "none").reshape(1, 1, 28, 28))
    assert trace.loss == pytest.approx(float(F.nll_loss(outputs, torch.tensor([2]))), rel=1e-12)


def test_the_update_is_w_minus_lr_grad_and_leaves_the_model_alone():
    spec = ModelSpec(dense=[DenseLayer(12, "sigmoid"), DenseLayer(9, "relu")])
    model, image = net(spec, seed=5), digit(5)
    before = [p.detach().clone() for p in model.parameters()]
    trace = backprop.trace_step(spec, model, image, 1, lr=0.01)
    for stage, forward in zip(reversed(trace.backward), trace.forward):
        assert torch.equal(stage.new_weight, forward.weight - 0.01 * stage.dw)
        assert torch.equal(stage.new_bias, forward.bias - 0.01 * stage.db)
    assert trace.loss_after < trace.loss  # a small step down the gradient lowers this digit's loss
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert next(model.parameters()).dtype == torch.float32
    assert backprop.trace_step(spec, model, image, 1).loss_after is None


def test_the_trace_takes_a_saved_run(tmp_path):
    spec = ModelSpec(dense=[DenseLayer(8, "tanh")], outputs=2)
    config = TrainConfig(classes=[3, 7], loss="mse", normalization="mnist")
    folder = save_run(tmp_path, "20261124-000000-tiny-0001", spec, config, build(spec), {}, [], [])
    run = load_run(folder, tmp_path)
    trace = backprop.trace_run_step(run, digit(6), 1, lr=0.1)
    assert trace.loss_name == "mse" and trace.probabilities.shape == (2,)
    assert backprop.check_against_autograd(spec, run.model, digit(6), trace, "mnist") < 1e-6


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (ModelSpec(conv=[ConvLayer(4, 3)], dense=[DenseLayer(8)]), "conv"),
        (ModelSpec(dense=[DenseLayer(8, "gelu")]), r"dense\[0\].activation"),
        (ModelSpec(dense=[DenseLayer(8), DenseLayer(8, dropout=0.2)]), r"dense\[1\].dropout"),
        (ModelSpec(dense=[DenseLayer(8, batch_norm=True)]), r"dense\[0\].batch_norm"),
    ],
)
def test_networks_the_scratch_engine_cannot_step_are_refused(spec, field):
    with pytest.raises(ValueError, match=field):
        backprop.trace_step(spec, build(spec), digit(), 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(label=10), "label"),
        (dict(label=-1), "label"),
        (dict(loss="hinge"), "loss"),
        (dict(lr=0.0), "lr"),
        (dict(image=torch.zeros(27, 27)), "image"),
    ],
)
def test_bad_step_settings_are_refused_naming_the_field(changes, field):
    spec = ModelSpec(dense=[DenseLayer(8)])
    settings = dict(image=digit(), label=0, loss="cross_entropy", lr=None) | changes
    with pytest.raises(ValueError, match=field):
        backprop.trace_step(spec, build(spec), **settings)


def test_stage_equations_are_the_build_pages_lines_for_one_digit():
    spec = ModelSpec(dense=[DenseLayer(20, "relu"), DenseLayer(10, "sigmoid")])
    equations = backprop.stage_equations(spec, "nll")
    lines = [equations.input, *sum(equations.forward, ()), equations.loss]
    lines += sum(equations.backward, ())
    assert lines == layer_equations(spec, 1, "cross_entropy")
    assert [len(e) for e in equations.forward] == [2, 2, 1]  # the scores have no activation
    assert [len(e) for e in equations.backward] == [2, 2, 1]  # nothing passes back past layer 1
    assert "W_3" in equations.backward[0][0] and "W_1" in equations.backward[-1][0]


# --- the Inside page ------------------------------------------------------------------------


def _saved(runs: Path, name: str, spec: ModelSpec) -> None:
    """A run with random weights, saved the way jobs save (the page scores it all the same)."""
    summary = {"name": name, "status": "finished", "created": "2026-11-24T00:00:00+00:00"}
    save_run(
        runs, f"20261124-000000-{name}-0001", spec, TrainConfig(), build(spec), summary, [], []
    )


def _inside() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    return at.switch_page(INSIDE).run()


def _texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(at, kind))


def test_inside_page_steps_a_dense_network_through_backprop(data_dir, isolated_folders):
    _saved(
        isolated_folders, "dense", ModelSpec(dense=[DenseLayer(16, "relu"), DenseLayer(12, "tanh")])
    )
    at = _inside()
    assert not at.exception, at.exception
    assert not at.error
    assert any(e.label == "Step through backprop" for e in at.expander)
    subheaders = _texts(at, "subheader")
    for stage in ("Forward", "The loss", "Backward", "The update"):
        assert stage in subheaders
    latex = _texts(at, "latex")
    assert "W_1: 16 \\times 784" in latex and "\\frac{\\partial L}{\\partial W_3}" in latex
    assert "Hand-written gradients match autograd: max difference" in _texts(at, "success")

    at.number_input(key="backprop-digit").set_value(12).run()
    assert not at.exception
    assert "Test digit **#12**" in _texts(at, "markdown")
    at.button(key="backprop-another").click().run()
    assert not at.exception
    assert at.number_input(key="backprop-digit").value != 12
    assert "match autograd" in _texts(at, "success")


def test_a_rerun_of_the_inside_page_reuses_the_walks_charts_until_its_digit_or_rate_changes(
    data_dir, isolated_folders, monkeypatch
):
    _saved(isolated_folders, "walked", ModelSpec(dense=[DenseLayer(16, "relu")]))
    built = []
    original = inside_figures.activation_bars_figure

    def counted(*args, **kwargs):
        built.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(inside_figures, "activation_bars_figure", counted)
    at = _inside()
    assert not at.exception, at.exception
    first = len(built)
    at.run()  # a click anywhere on the page: the same digit at the same rate
    assert not at.exception, at.exception
    assert len(built) == first  # nothing drawn again
    at.number_input(key="backprop-lr").set_value(0.5).run()
    assert not at.exception
    walk = built[first:]  # a new rate: the walk's four charts, two layers forward and two back
    assert len(walk) == 4 and sum("δ" in title for title in walk) == 2
    assert "match autograd" in _texts(at, "success")


def test_inside_page_says_the_walk_through_needs_a_dense_network(data_dir, isolated_folders):
    _saved(isolated_folders, "conv", ModelSpec(conv=[ConvLayer(4, 5)], dense=[DenseLayer(8)]))
    at = _inside()
    assert not at.exception, at.exception
    assert not at.error
    info = _texts(at, "info")
    assert "needs a dense network" in info and "seed-mlp-128" in info
    assert "match autograd" not in _texts(at, "success")
