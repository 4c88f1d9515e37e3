"""The Build page's network diagram: one stage per layer, in order, laid out by depth."""

from __future__ import annotations

import re

from core.spec.models import DenseLayer, ModelSpec
from core.spec.presets import get_preset
from ui.build.network_diagram import MAX_STAGES_ACROSS, network_diagram_html, network_stages


def stage_titles(diagram: str) -> list[str]:
    return re.findall(r'<li class="dl-stage"><span class="dl-head"><b>([^<]*)</b>', diagram)


def test_a_convolutional_network_reads_input_to_output_with_shapes_and_details():
    spec = get_preset("small-cnn").spec
    stages = network_stages(spec)
    assert [s["title"] for s in stages][:2] == ["Input", "Conv 1"]
    assert stages[0]["shape"] == "1×28×28" and stages[-1]["title"] == "Output"
    diagram = network_diagram_html(spec)
    assert stage_titles(diagram) == [s["title"] for s in stages]
    conv = stages[1]
    assert "relu" in conv["detail"] and f"<b>Conv 1</b> {conv['shape']}" in diagram


def test_box_sizes_follow_each_stages_output_on_a_log_scale():
    sizes = [float(x) for x in re.findall(r"--size: ([\d.]+)", network_diagram_html(
        get_preset("seed-mlp-128").spec))]  # fmt: skip
    # 784 inputs, 784 flattened, 128, 128, 10 outputs: the largest fills the box, 10 is smallest
    assert sizes[0] == max(sizes) == 1.0
    assert sizes[2] == sizes[3] < sizes[0]
    assert sizes[-1] == min(sizes) > 0.16


def test_a_deep_network_is_stacked_and_a_shallow_one_runs_across():
    shallow = get_preset("seed-mlp-128").spec
    assert 'class="dl-net dl-across"' in network_diagram_html(shallow)
    deep = ModelSpec(dense=[DenseLayer(width=64) for _ in range(MAX_STAGES_ACROSS)])
    diagram = network_diagram_html(deep)
    assert 'class="dl-net dl-stacked"' in diagram
    assert stage_titles(diagram)[1:-1] == ["Flatten"] + [
        f"Dense {i}" for i in range(1, MAX_STAGES_ACROSS + 1)
    ]
    # the deep one is never laid across; the shallow one only in a column of 5 rem a stage (a
    # phone's stacks it)
    assert "@container" not in diagram
    assert "@container (min-width: 25rem)" in network_diagram_html(shallow)


def test_text_in_the_diagram_is_escaped():
    spec = get_preset("seed-mlp-128").spec
    stages = network_stages(spec)
    assert all("<" not in line for s in stages for line in s["detail"])
    assert "<script" not in network_diagram_html(spec)
