"""The public command line, as DESIGN.md fixes it."""

import json
import os
import subprocess
import sys

import pytest

from playground.cli import main


def test_train_json_last_line(capsys):
    assert main(["train", "xor_mlp", "--steps", "500", "--seed", "0", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert result["step"] == 500
    assert result["val_accuracy"] >= 0.99
    assert {"loss", "accuracy", "val_loss"} <= set(result)


def test_summary_json_format(capsys):
    assert main(["summary", "digits_mlp", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_params"] == 64 * 128 + 128 + 128 * 10 + 10
    assert out["rows"][1] == {"node": "fc1", "type": "Linear", "output_shape": "(N, 128)",
                              "params": 8320, "macs": 8192}



def test_summary_as_csv_and_markdown_to_stdout_or_a_file(capsys, tmp_path):
    import csv
    import io

    assert main(["summary", "digits_mlp", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    fc1 = next(r for r in rows if r["node"] == "fc1")
    assert (fc1["type"], fc1["output_shape"], fc1["params"], fc1["macs"]) == \
        ("Linear", "(N, 128)", "8320", "8192")
    assert rows[-1]["node"] == "total" and rows[-1]["params"] == str(64 * 128 + 128 + 1290)
    out = tmp_path / "summary.md"
    assert main(["summary", "digits_mlp", "--format", "markdown", "-o", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("| Name | Type |")
    assert "| fc1 | Linear | (N, 64) | (N, 128) | 8,320 | 8,192 |" in lines
    assert any(line.startswith("| **Total** |") and "**9,610**" in line for line in lines)
    assert str(out) in capsys.readouterr().out  # says where it wrote, not the table
    assert main(["summary", "digits_mlp", "-o", str(tmp_path / "no" / "dir" / "s.txt")]) == 2
    assert "cannot write" in capsys.readouterr().err

def test_presets_lists_each_with_its_first_sentence(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert {"xor_mlp", "spiral_mlp", "digits_mlp", "gan_ring"} <= set(names)
    gan = next(line for line in lines if line.startswith("gan_ring"))
    assert gan.endswith("(Metz et al. 2017)")  # "et al." does not end the sentence


def test_bad_project_exits_2_with_a_message(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "graph": {"nodes": [], "edges": []}, '
                   '"training": {"lr": "fast"}}')
    assert main(["train", str(bad)]) == 2
    assert "training.lr must be a number in (0, 10]" in capsys.readouterr().err
    assert main(["summary", "no_such_thing"]) == 2


def test_train_json_carries_the_recipes_own_metrics(capsys):
    assert main(["train", "gan_ring", "--steps", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["step"] == 20 and list(out)[:2] == ["step", "loss"]
    assert 0.0 < out["d_real"] < 1.0 and 0.0 < out["d_fake"] < 1.0
    assert 0.0 <= out["modes_covered"] <= 1.0


BAD_FILES = {
    "field": '{"schema_version": 1, "graph": {"nodes": [], "edges": []}, '
             '"training": {"lr": "fast"}}',
    "json": '{"schema_version": 1, "graph": ',
    "node type": '{"schema_version": 1, "name": "x", "graph": {"nodes": [{"id": "a", '
                 '"type": "NoSuchLayer", "params": {}, "pos": [0, 0]}], "edges": []}}',
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_gui_refuses_a_bad_file_with_trains_one_line_error(kind, tmp_path):
    """`playground gui BAD.json` prints the one line `train` prints, never a traceback,
    and opens no window (a window would block until the timeout)."""
    bad = tmp_path / "bad.json"
    bad.write_text(BAD_FILES[kind])
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    runs = {cmd: subprocess.run([sys.executable, "-m", "playground.cli", cmd, str(bad)],
                                capture_output=True, text=True, timeout=120, env=env)
            for cmd in ("gui", "train")}
    for cmd, run in runs.items():
        assert run.returncode == 2, (cmd, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("playground: error: "), run.stderr
        assert "Traceback" not in run.stderr
    assert runs["gui"].stderr == runs["train"].stderr


def test_screenshot_size_is_checked(capsys):
    assert main(["screenshot", "xor_mlp", "-o", "x.png", "--size", "big"]) == 2
    assert "--size must be WIDTHxHEIGHT" in capsys.readouterr().err


def test_train_save_keeps_the_run_and_a_killed_run_its_last_checkpoint(tmp_path, capsys):
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    from playground.project import load
    from playground.project.format import TRAINING_STEP_KEY

    out = tmp_path / "mine.json"
    assert main(["train", "xor_mlp", "--steps", "50", "--save", str(out)]) == 0
    assert f"saved {out}" in capsys.readouterr().err
    saved = load(out)
    assert int(saved.weights[TRAINING_STEP_KEY]) == 50 and "fc1.weight" in saved.weights
    # a long run killed with SIGKILL keeps its last tenth-of-the-run checkpoint
    killed = tmp_path / "killed.json"
    proc = subprocess.Popen([sys.executable, "-m", "playground", "train", "digits_mlp",
                             "--steps", "200000", "--save", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not killed.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # (a second checkpoint may land meanwhile: also fine)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    kept = load(killed)
    step = int(kept.weights[TRAINING_STEP_KEY])
    assert step > 0 and step % 20000 == 0
    assert all(np.isfinite(v).all() for v in kept.weights.values())
