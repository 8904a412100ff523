"""Every example in README.md runs, as written: the shell commands of "Without a screen",
the Python API example and the project file. The quick start's two commands are what
.ci/run runs on a fresh clone."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from playground.project.format import from_dict

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
PLAYGROUND = Path(sys.executable).with_name("playground")


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS if kind == lang]


def _commands(block: str) -> list[str]:
    """The lines of a shell block, comments dropped."""
    lines = (line.split("  #")[0].strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


QUICK_START, HEADLESS = _blocks("bash")[:2]
HEADLESS_COMMANDS = _commands(HEADLESS)


def test_the_readme_has_the_examples_this_file_runs():
    assert len(_blocks("bash")) == 2 and len(_blocks("python")) == 1
    assert len(_blocks("json")) == 2
    assert all(c.startswith("playground ") for c in HEADLESS_COMMANDS), HEADLESS_COMMANDS


def test_ci_runs_the_quick_starts_install_and_test_commands():
    install, test = _commands(QUICK_START)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv" in install and "pip install -e ." in install
    assert 'pip install --quiet -e ".[test]"' in ci or 'pip install -e ".[test]"' in ci
    assert test.startswith('pip install -e ".[test]" && pytest')
    assert re.search(r"^python -m pytest", ci, flags=re.M)


@pytest.mark.parametrize("command", HEADLESS_COMMANDS, ids=lambda c: c.split()[1])
def test_headless_command_runs_as_written(command, tmp_path):
    argv = shlex.split(command)
    run = subprocess.run([str(PLAYGROUND), *argv[1:]], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = run.stdout.strip().splitlines()
    if argv[1] == "train":
        final = json.loads(out[-1])
        steps = json.loads((ROOT / "presets" / f"{argv[2]}.json").read_text())["training"]
        assert final["step"] == steps["steps"] and final["val_accuracy"] > 0.9
    elif argv[1] == "screenshot":
        png = tmp_path / argv[argv.index("-o") + 1]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    elif argv[1] == "summary" and "-o" in argv:  # a table written to a file
        table = (tmp_path / argv[argv.index("-o") + 1]).read_text().splitlines()
        assert any(line.startswith("| fc1 |") for line in table), table[:3]
    elif argv[1] == "summary":
        assert any(line.startswith("fc1") for line in out)
    elif argv[1] == "export":
        out_path = tmp_path / argv[argv.index("-o") + 1]
        if argv[argv.index("--format") + 1] == "onnx":
            assert out_path.read_bytes()[:2] == b"\x08\x0a"  # ir_version 10, a protobuf
        else:
            assert {"model.py", "weights.npz", "check.py"} <= {p.name for p in out_path.iterdir()}
    elif argv[1] == "presets":
        assert {line.split()[0] for line in out} >= {"xor_mlp", "digits_mlp", "gan_ring"}


def test_python_api_example_runs_as_written(tmp_path):
    (code,) = _blocks("python")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    first, *records = run.stdout.strip().splitlines()
    assert first.startswith("{'step': 1500, 'loss': ") and "'val_accuracy': " in first
    assert len(records) >= 4  # loss, linear, relu, linear ...
    assert any("'target': None" in r for r in records)  # the target needs no gradient


def test_project_file_example_loads_and_trains(tmp_path):
    from playground.session import Session

    example, fragment = _blocks("json")
    s = Session(from_dict(json.loads(example)))
    final = s.train(20)
    assert final["step"] == 20 and np.isfinite(final["loss"])
    # the GAN recipe example (a "recipe" member) binds to gan_ring's graph and trains
    recipe = json.loads("{" + fragment + "}")["recipe"]
    gan = json.loads((ROOT / "presets" / "gan_ring.json").read_text())
    s = Session(from_dict({**gan, "recipe": recipe}), timeline=False)
    assert s.train(2)["step"] == 2
