"""The Data, Build and Train pages and the shared frame, under Streamlit's AppTest.

The tests drive the real app.py (navigation, sidebar and all) on the real MNIST; the runs
folder is a fresh temporary one per test (conftest.py). AppTest does not replay a fragment's
run_every timer, so the live training panel is checked through the job registry and the
results that a full rerun draws.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.data import mnist as core_data
from core.runs import listing
from core.spec.models import MAX_DENSE_LAYERS, DenseLayer, ModelSpec
from core.train.jobs import registry

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    if page is not None:
        at.switch_page(page).run()
    return at


def _by_label(widgets, label: str):
    matches = [w for w in widgets if w.label == label]
    assert matches, f"no widget labelled {label!r}; have {[w.label for w in widgets]}"
    return matches[0]


def _metric(at: AppTest, label: str) -> str:
    return _by_label(at.metric, label).value


def _errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


@pytest.fixture(autouse=True)
def _needs_mnist(data_dir):
    """Every test here renders pages on the real MNIST."""


def test_data_page_shows_sizes_balance_grid_pixels_and_means():
    at = _app()
    assert not at.exception
    assert at.title[0].value == "Data"
    assert _metric(at, "Training images") == "60,000"
    assert _metric(at, "Test images") == "10,000"
    assert len(at.get("plotly_chart")) == 2  # class balance, pixel heatmap
    assert len(at.get("image")) == 2  # random grid, class means
    assert any(b.label == "Reshuffle" for b in at.button)
    assert _by_label(at.number_input, "Training image number").value >= 0


def test_data_page_reshuffle_draws_other_digits():
    at = _app()
    before = at.number_input[0].value
    _by_label(at.button, "Reshuffle").click().run()
    assert not at.exception
    assert at.session_state["grid_seed"] == 1
    assert at.number_input[0].value != before


def test_choosing_3_vs_7_on_data_sets_the_training_digits_and_outputs():
    at = _app()
    next(c for c in at.segmented_control if c.label == "Digits").set_value("3 vs 7").run()
    assert not at.exception
    assert at.session_state["train_config"].classes == [3, 7]
    assert at.session_state["spec"].outputs == 2
    assert _metric(at, "Digits to train on") == "2"


def test_a_custom_subset_of_one_digit_shows_an_error_and_keeps_the_digits():
    at = _app()
    next(c for c in at.segmented_control if c.label == "Digits").set_value("Custom").run()
    at.pills[0].set_value([4]).run()
    assert not at.exception
    assert "classes" in _errors(at)
    assert at.session_state["train_config"].classes == list(range(10))


def test_normalisation_choice_reaches_the_training_settings():
    at = _app()
    _by_label(at.radio, "Normalisation").set_value("mnist").run()
    assert at.session_state["train_config"].normalization == "mnist"


def test_sidebar_shows_data_status_and_device_choices():
    at = _app()
    sidebar_text = " ".join(m.value for m in at.sidebar.markdown)
    assert "60,000 train" in sidebar_text
    device = _by_label(at.sidebar.selectbox, "Device")
    assert device.options[0].startswith("Auto (") and "CPU" in device.options
    assert any(option.startswith("GPU") for option in device.options) == torch.cuda.is_available()


def test_build_page_shows_editor_counts_diagram_and_code():
    at = _app("views/2_Build.py")
    assert not at.exception
    assert at.title[0].value == "Build"
    assert _metric(at, "Parameters") == "118,282"  # 784·128+128 + 128·128+128 + 128·10+10
    assert _metric(at, "Multiply-adds") == "118,016"
    assert len([w for w in at.number_input if w.label == "Width"]) == 2
    # the diagram is the page's own HTML: the Build page loads no plotly.js
    assert not at.get("plotly_chart")
    diagram = next(h.value for h in at.html if "dl-net" in h.value)
    assert diagram.count('class="dl-stage"') == 5  # input, flatten, two dense layers, output
    assert "<b>Dense 2</b> 128" in diagram
    assert "Linear(in_features=784, out_features=128" in at.code[0].value
    assert "class Net(nn.Module)" in at.code[1].value
    assert "nn.Linear(784, 128)" in at.code[1].value
    assert at.get("download_button")


def test_choosing_another_preset_changes_the_parameter_count():
    at = _app("views/2_Build.py")
    before = _metric(at, "Parameters")
    _by_label(at.selectbox, "Start from a preset").set_value("seed-mlp-512").run()
    assert not at.exception
    assert _metric(at, "Parameters") != before
    assert _metric(at, "Parameters") == "669,706"
    assert at.session_state["preset"] == "seed-mlp-512"


def test_separable_convolutions_and_global_pooling_are_switched_in_the_editor():
    at = _app("views/2_Build.py")
    _by_label(at.selectbox, "Start from a preset").set_value("tiny").run()
    assert _metric(at, "Parameters") == "980"
    separable = [w.value for w in at.checkbox if w.label == "Separable"]
    assert separable == [False, True, True, True, True]
    pooling = _by_label(at.checkbox, "Average each map (global average pooling)")
    assert pooling.value
    pooling.uncheck().run()
    assert not at.exception
    # flattened, the last 11 maps of 5×5 feed the output layer: 11·25·10 weights, not 11·10
    assert _metric(at, "Parameters") == f"{980 - 11 * 10 + 11 * 25 * 10:,}"
    assert "torch.flatten(x, 1)" in at.code[1].value


def test_removing_the_last_convolution_turns_global_pooling_off():
    at = _app("views/2_Build.py")
    _by_label(at.selectbox, "Start from a preset").set_value("tiny").run()
    for _ in range(5):
        at.button(key=f"r{at.session_state['settings_revision']}_conv0_remove").click().run()
        assert not at.exception
    spec = at.session_state["spec"]
    assert spec.conv == [] and not spec.global_pool  # else the spec would not validate
    assert not [w for w in at.checkbox if w.label.startswith("Average each map")]
    assert _metric(at, "Parameters") == f"{784 * 10 + 10:,}"


def test_a_preset_also_loads_its_training_settings():
    at = _app("views/2_Build.py")
    _by_label(at.selectbox, "Start from a preset").set_value("best-mlp").run()
    config = at.session_state["train_config"]
    assert (config.optimizer, config.schedule, config.epochs) == ("adamw", "onecycle", 8)


def test_adding_and_removing_a_dense_layer_changes_the_network():
    at = _app("views/2_Build.py")
    _by_label(at.button, "Add dense layer").click().run()
    assert len(at.session_state["spec"].dense) == 3
    assert len([w for w in at.number_input if w.label == "Width"]) == 3
    at.button(key=f"r{at.session_state['settings_revision']}_dense0_remove").click().run()
    assert not at.exception
    assert len(at.session_state["spec"].dense) == 2


def test_add_dense_layer_at_the_limit_says_why_it_is_greyed_out():
    at = _app("views/2_Build.py")
    at.session_state["spec"] = ModelSpec(dense=[DenseLayer(16) for _ in range(MAX_DENSE_LAYERS)])
    at.run()
    button = _by_label(at.button, "Add dense layer")
    reason = f"At most {MAX_DENSE_LAYERS} dense layers: remove one to add another."
    assert button.disabled and button.help == reason
    assert reason in [caption.value for caption in at.caption]


def test_editing_a_width_updates_the_count_and_moving_a_layer_keeps_it():
    at = _app("views/2_Build.py")
    [w for w in at.number_input if w.label == "Width"][0].set_value(64).run()
    assert [layer.width for layer in at.session_state["spec"].dense] == [64, 128]
    count = _metric(at, "Parameters")
    at.button(key=f"r{at.session_state['settings_revision']}_dense0_down").click().run()
    assert [layer.width for layer in at.session_state["spec"].dense] == [128, 64]
    assert _metric(at, "Parameters") != count  # 784·128 weights now feed the first layer


def test_a_convolution_stack_that_shrinks_the_image_away_shows_an_error_naming_it():
    at = _app("views/2_Build.py")
    for _ in range(3):
        _by_label(at.button, "Add convolution").click().run()
        for kernel in [w for w in at.selectbox if w.label == "Kernel"]:
            kernel.set_value(9)
        for padding in [w for w in at.selectbox if w.label == "Padding"]:
            padding.set_value("valid")
        at.run()
    assert not at.exception
    assert "conv[2]" in _errors(at)
    # the other settings survive the error
    assert len(at.session_state["spec"].conv) == 3
    assert [layer.width for layer in at.session_state["spec"].dense] == [128, 128]


def test_outputs_that_do_not_match_the_digits_show_an_error():
    at = _app("views/2_Build.py")
    _by_label(at.number_input, "Outputs").set_value(3).run()
    assert not at.exception
    assert "outputs" in _errors(at)


def test_train_page_shows_every_setting_and_the_start_button():
    at = _app("views/3_Train.py")
    assert not at.exception
    assert at.title[0].value == "Train"
    for label in ("Optimizer", "Schedule", "Loss"):
        _by_label(at.selectbox, label)
    for label in ("Learning rate", "Weight decay", "Batch size", "Training data used"):
        _by_label(at.select_slider, label)
    for label in ("Epochs", "Seed", "Stop after steps"):
        _by_label(at.number_input, label)
    _by_label(at.toggle, "Augment training images")
    _by_label(at.button, "Start training")


def test_learning_rate_steps_are_log_spaced_and_keep_the_preset_value():
    at = _app("views/3_Train.py")
    rate = _by_label(at.select_slider, "Learning rate")
    assert rate.value == 0.001
    assert {"1e-05", "0.0001", "0.001", "0.01", "0.1", "1"} <= set(rate.options)


def test_settings_that_cannot_train_show_an_error_instead_of_starting():
    at = _app("views/3_Train.py")
    _by_label(at.selectbox, "Loss").set_value("nll").run()
    _by_label(at.button, "Start training").click().run()
    assert not at.exception
    assert "nll" in _errors(at)
    assert not registry().active()


def test_a_short_training_started_on_the_train_page_is_saved_and_becomes_active(
    isolated_folders,
):
    at = _app("views/3_Train.py")
    _by_label(at.number_input, "Epochs").set_value(1)
    _by_label(at.select_slider, "Training data used").set_value(0.05)
    at.run()
    _by_label(at.button, "Start training").click().run()
    assert not at.exception
    run_id = at.session_state["job"]
    assert at.query_params["job"] == run_id
    job = registry().get(run_id)
    assert job is not None and job.config.epochs == 1 and job.config.train_fraction == 0.05
    assert job.wait(timeout=180)
    assert job.state == "finished", job.error

    at.run()
    assert not at.exception
    saved = listing.list_runs(isolated_folders)
    assert [summary["run_id"] for summary in saved] == [run_id]
    assert any("test accuracy" in s.value for s in at.success)
    assert at.session_state["active_run"] == saved[0]["path"]

    # the new run is selectable on Evaluate and Draw, and shown there
    for page, picker_label in (("views/4_Evaluate.py", "Run"), ("views/5_Draw.py", "Model")):
        at.switch_page(page).run()
        assert not at.exception
        picker = _by_label(at.selectbox, picker_label)
        assert picker.value == saved[0]["path"]

    # a refreshed browser has only the URL: it finds the same job again
    fresh = AppTest.from_file(APP, default_timeout=120)
    fresh.query_params["job"] = run_id
    fresh.run().switch_page("views/3_Train.py").run()
    assert not fresh.exception
    assert any("test accuracy" in s.value for s in fresh.success)


def test_without_mnist_every_page_shows_the_reason_and_build_still_works(tmp_path, monkeypatch):
    def unavailable(*args, **kwargs):
        raise core_data.DataUnavailable("MNIST is not available. Tried: nothing (test).")

    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(core_data, "ensure_mnist", unavailable)
    at = _app()
    assert not at.exception
    assert "MNIST is not available" in _errors(at)
    assert not at.title  # the Data page itself needs the data
    at.switch_page("views/3_Train.py").run()
    assert "MNIST is not available" in _errors(at)
    at.switch_page("views/2_Build.py").run()
    assert not at.exception
    assert at.title[0].value == "Build"


def test_a_network_too_large_for_memory_shows_the_size_needed_and_is_kept(monkeypatch):
    monkeypatch.setenv("DIGITLAB_MEMORY_LIMIT_GB", "4")
    at = _app("views/2_Build.py")
    _by_label(at.button, "Add convolution").click().run()
    _by_label(at.number_input, "Channels").set_value(256)
    _by_label(at.selectbox, "Pool 2×2").set_value("none")
    for width in [w for w in at.number_input if w.label == "Width"]:
        width.set_value(4096)
    at.run()
    assert not at.exception
    # 256 channels of 28×28 feed 200,704 numbers into each of the 4,096 units
    assert "dense[0].width: 4,096 units need about" in _errors(at)
    assert "the limit is 4.0 GB" in _errors(at)
    assert _metric(at, "Parameters") == "838,912,522"
    assert [layer.width for layer in at.session_state["spec"].dense] == [4096, 4096]


def test_a_batch_larger_than_the_training_data_is_refused_before_starting():
    at = _app("views/3_Train.py")
    _by_label(at.select_slider, "Training data used").set_value(0.01)
    _by_label(at.select_slider, "Batch size").set_value(4096)
    at.run()
    assert not at.exception
    assert "batch_size: 4,096 is larger than the 550 training digits" in _errors(at)
    _by_label(at.button, "Start training").click().run()
    assert "Cannot start yet: batch_size" in _errors(at)  # the click is refused with the reason
    assert not registry().active()
    _by_label(at.select_slider, "Batch size").set_value("full").run()
    assert not at.error  # full batch is one step over those 550 digits


def test_a_first_visit_is_guided_from_data_to_draw_one_next_step_at_a_time(monkeypatch):
    from core.runs.ready import READY_ENV

    monkeypatch.setenv(READY_ENV, "1")  # a first visit has the ready model: Evaluate shows it
    at = _app()
    assert "Start here" in " ".join(str(i.value) for i in at.info)
    path = ["views/1_Data.py", "views/2_Build.py", "views/3_Train.py", "views/4_Evaluate.py",
            "views/5_Draw.py", "views/6_Inside.py"]  # fmt: skip
    for page, following in zip(path, path[1:]):
        at.switch_page(page).run()
        assert not at.exception, page
        links = [link for link in at.get("page_link") if link.proto.label.startswith("Next:")]
        url = following.split("_", 1)[1].removesuffix(".py").lower()  # views/2_Build.py: build
        assert [link.proto.page for link in links] == [url], page
    at.switch_page(path[-1]).run()  # the last step has no next one
    assert not [link for link in at.get("page_link") if link.proto.label.startswith("Next:")]
