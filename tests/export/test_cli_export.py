"""`playground export` and `playground import`: files written, one-line errors."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from playground.cli import main  # noqa: E402
from playground.project import load  # noqa: E402


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_export_onnx_then_import(capsys, tmp_path):
    model = tmp_path / "spiral.onnx"
    assert main(["export", "spiral_mlp", "--format", "onnx", "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {model}: inputs x (N, 2); outputs fc3 (N, 2)" in out
    proto = onnx.load(str(model))
    onnx.checker.check_model(proto, full_check=True)
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    (got,) = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    project = tmp_path / "back.json"
    assert main(["import", str(model), "-o", str(project)]) == 0
    assert f"wrote {project} and its weights: 6 nodes" in capsys.readouterr().out
    back = load(project)
    assert [n["type"] for n in back.graph["nodes"]] == \
        ["Input", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    from playground.engine import Tensor, no_grad
    from playground.export.onnx_export import build_program
    with no_grad():
        trace = build_program(back).run({"x": {"output": Tensor(x)}})
    np.testing.assert_allclose(trace["fc3"]["output"].data, got, rtol=1e-5, atol=1e-6)


def test_export_gan_part(capsys, tmp_path):
    out = tmp_path / "d.onnx"
    assert main(["export", "gan_ring", "--format", "onnx", "-o", str(out),
                 "--part", "discriminator"]) == 0
    assert "outputs d_out (N, 1)" in capsys.readouterr().out
    assert main(["export", "xor_mlp", "--format", "onnx", "-o", str(out),
                 "--part", "generator"]) == 2
    assert "for a GAN project" in _one_line_error(capsys)


def test_export_errors_are_one_line(capsys, tmp_path, monkeypatch):
    assert main(["export", "no_such_preset", "--format", "onnx", "-o",
                 str(tmp_path / "m.onnx")]) == 2
    assert "no such file, and no preset of that name" in _one_line_error(capsys)
    from playground.export import onnx_export
    monkeypatch.delitem(onnx_export.MAPPERS, "Tanh")
    assert main(["export", "xor_mlp", "--format", "onnx", "-o", str(tmp_path / "m.onnx")]) == 2
    assert "no ONNX mapping for node type Tanh" in _one_line_error(capsys)
    assert not (tmp_path / "m.onnx").exists()


def test_export_without_onnx_says_pip_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    assert main(["export", "xor_mlp", "--format", "onnx", "-o", str(tmp_path / "m.onnx")]) == 2
    assert "pip install onnx" in _one_line_error(capsys)


def test_import_errors_are_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["import", str(bad), "-o", str(tmp_path / "p.json")]) == 2
    assert "not an ONNX model" in _one_line_error(capsys)
    assert not (tmp_path / "p.json").exists()


def test_export_pytorch_calls_the_code_exporter(capsys, tmp_path, monkeypatch):
    calls = []

    def export_pytorch(project, out_dir):
        calls.append((project.name, out_dir))
        out_dir.mkdir()
        return out_dir
    fake = types.ModuleType("playground.export.pytorch_code")
    fake.export_pytorch = export_pytorch
    monkeypatch.setitem(sys.modules, "playground.export.pytorch_code", fake)
    out = tmp_path / "code"
    assert main(["export", "xor_mlp", "--format", "pytorch", "-o", str(out)]) == 0
    assert calls == [("xor_mlp", out)]
    assert f"wrote {out}" in capsys.readouterr().out


def test_export_pytorch_missing_module_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "playground.export.pytorch_code", None)
    assert main(["export", "xor_mlp", "--format", "pytorch", "-o", str(tmp_path / "c")]) == 1
    assert "PyTorch code export is not available" in _one_line_error(capsys)


def test_import_with_a_dataset_trains_from_the_command_line(capsys, tmp_path):
    model = tmp_path / "cnn.onnx"
    assert main(["export", "cnn_digits", "--format", "onnx", "-o", str(model)]) == 0
    project = tmp_path / "cnn.json"
    assert main(["import", str(model), "-o", str(project), "--dataset", "digits"]) == 0
    capsys.readouterr()
    assert main(["train", str(project), "--steps", "30", "--json"]) == 0
    import json
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 30 and result["accuracy"] > 0.3
    assert main(["import", str(model), "-o", str(tmp_path / "p.json"), "--dataset",
                 "spirals"]) == 2
    assert "gives (N, 2)" in _one_line_error(capsys)
