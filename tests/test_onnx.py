"""ONNX export: ONNX Runtime reads every test digit as PyTorch does, for a dense network, the
tiny separable convnet with global pooling and batch norm, and the one-neuron sigmoid with its
calibration; the file says what goes in and comes out; the command line writes and checks it."""

from __future__ import annotations

import json

import pytest

from core.bench.onnx import train_briefly
from core.cli import main
from core.export import onnx as onnx_export
from core.export.onnx import INPUT, OUTPUT, OnnxRefused, onnx_bytes
from core.export.onnx_check import MAX_DIFFERENCE, check_on_test_set
from core.runs.store import load_run
from core.spec.presets import get_preset


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir) -> dict[str, str]:
    """Three briefly trained runs: a dense network, the tiny convnet and the one neuron."""
    folder = str(tmp_path_factory.mktemp("onnx-runs"))
    found = {}
    for name in ("seed-mlp-128", "tiny", "seed-3v7"):
        spec, config = get_preset(name).fresh()
        found[name] = train_briefly(spec, config, name, folder, str(data_dir))
    return found


@pytest.mark.parametrize("name", ["seed-mlp-128", "tiny", "seed-3v7"])
def test_onnx_runtime_reads_every_test_digit_as_pytorch_does(runs, name, data_dir):
    run = load_run(runs[name])
    check = check_on_test_set(run, onnx_bytes(run), data_dir)
    print(check.text())
    assert check.digits == (2038 if name == "seed-3v7" else 10_000)
    assert check.disagreements == 0
    assert check.largest_difference < MAX_DIFFERENCE


def test_the_file_says_what_goes_in_and_what_comes_out(runs):
    import onnx  # here, not at the top: every lane's collection imported it (1.3 CPU-s)

    run = load_run(runs["seed-3v7"])
    model = onnx.load_from_string(onnx_bytes(run, ["three", "seven"]))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["class_names"]) == ["three", "seven"]
    assert meta["run_id"] == run.run_id and meta["test_accuracy"] == str(
        run.summary["test_accuracy"]
    )
    assert "0 background, 1 ink" in meta["input"] and "none" in meta["normalization"]
    assert [i.name for i in model.graph.input] == [INPUT]
    assert [o.name for o in model.graph.output] == [OUTPUT]
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"  # any number of digits at once


def test_an_exporter_failure_is_refused_in_words(runs, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::something")

    monkeypatch.setattr(onnx_export.torch.onnx, "export", broken)
    with pytest.raises(OnnxRefused, match="cannot be written as ONNX: RuntimeError: unsupported"):
        onnx_bytes(load_run(runs["tiny"]))


def test_the_command_line_writes_the_file_and_checks_it(runs, tmp_path, capsys, data_dir):
    out = tmp_path / "tiny.onnx"
    assert (
        main(["--data", str(data_dir), "export", runs["tiny"], "--onnx", str(out), "--check"]) == 0
    )
    printed = capsys.readouterr().out
    assert out.stat().st_size > 1000
    assert "10,000 test digits, 0 predictions differ" in printed and "(ok" in printed
    assert main(["export", str(tmp_path / "no-such-run"), "--onnx", str(out)]) == 1
    assert "error:" in capsys.readouterr().err
