"""The ``playground`` command.

    playground [gui] [PROJECT]                   open the app (default preset: spiral_mlp)
    playground train PROJECT [--steps N] [--seed S] [--json]
    playground summary PROJECT [--json | --format {text,csv,markdown}] [-o FILE]
    playground screenshot PROJECT -o FILE.png [--steps N] [--size WxH] [--open BLOCK]
                          [--select NODE] [--forward-steps N] [--backward-steps N]
    playground presets
    playground export PROJECT --format {onnx,pytorch} -o OUT [--part generator|discriminator]
    playground import MODEL.onnx -o PROJECT.json [--dataset NAME]

PROJECT is a path to a project ``.json`` or a preset name (``playground presets``).
Exit status: 0 on success, 2 on bad input (the message names what is wrong).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

DEFAULT_PRESET = "spiral_mlp"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="playground", description="DL Playground: learn deep "
                                "learning by building it.")
    sub = p.add_subparsers(dest="command")
    g = sub.add_parser("gui", help="open the app")
    g.add_argument("project", nargs="?", default=None, help="path or preset name")
    t = sub.add_parser("train", help="train headless")
    t.add_argument("project")
    t.add_argument("--steps", type=int, default=None, help="steps (default: the project's)")
    t.add_argument("--seed", type=int, default=None, help="seed (default: the project's)")
    t.add_argument("--json", action="store_true", help="last line: JSON of final metrics")
    t.add_argument("--save", metavar="OUT.json", default=None,
                   help="save the trained project (and its weights beside it) here; also "
                        "every tenth of the run, so a killed run keeps its last checkpoint")
    s = sub.add_parser("summary", help="per-node shapes, params and MACs")
    s.add_argument("project")
    s.add_argument("--json", action="store_true")
    s.add_argument("--format", choices=("text", "csv", "markdown"), default="text",
                   help="table format (default text); csv and markdown suit spreadsheets "
                        "and READMEs")
    s.add_argument("-o", "--output", metavar="FILE", help="write the table here, not stdout")
    sh = sub.add_parser("screenshot", help="render the main window to a PNG")
    sh.add_argument("project")
    sh.add_argument("-o", "--output", required=True, help="PNG file to write")
    sh.add_argument("--steps", type=int, default=0, help="training steps before the shot")
    sh.add_argument("--size", default="1600x1000", metavar="WxH",
                    help="window size in pixels (default 1600x1000)")
    sh.add_argument("--open", action="append", default=[], metavar="BLOCK",
                    help="open this composite node in place (repeatable)")
    sh.add_argument("--select", metavar="NODE", help="select this node (the views follow it)")
    sh.add_argument("--forward-steps", type=int, default=0, metavar="N",
                    help="press Step forward N times after training")
    sh.add_argument("--backward-steps", type=int, default=0, metavar="N",
                    help="then press Step backward N times")
    sub.add_parser("presets", help="list the presets")
    ex = sub.add_parser("export", help="the model to an ONNX file or to PyTorch code")
    ex.add_argument("project")
    ex.add_argument("--format", required=True, choices=("onnx", "pytorch"))
    ex.add_argument("-o", "--output", required=True,
                    help="the .onnx file, or the folder for the PyTorch code")
    ex.add_argument("--part", choices=("generator", "discriminator"), default=None,
                    help="a GAN's half to export to ONNX (default: the generator)")
    im = sub.add_parser("import", help="an ONNX model into a project (JSON + weights .npz)")
    im.add_argument("model", help="the .onnx file")
    im.add_argument("-o", "--output", required=True, help="the project .json to write")
    im.add_argument("--dataset", default=None, metavar="NAME",
                    help="feed the model from this dataset and add a CrossEntropyLoss, so "
                         "that it trains (e.g. digits)")
    return p


def _fail(message: str) -> int:
    print(f"playground: error: {message}", file=sys.stderr)
    return 2


def cmd_train(args) -> int:
    from playground.graph import GraphFormatError
    from playground.project import ProjectError, load, save
    from playground.session import Session, SessionError

    try:
        project = load(args.project)
        for warning in project.warnings:  # opened, but not quite as saved
            print(f"playground: warning: {warning}", file=sys.stderr)
        if args.seed is not None:
            if args.seed < 0:
                return _fail(f"--seed must be ≥ 0, got {args.seed}")
            project.training.seed = args.seed
        steps = project.training.steps if args.steps is None else args.steps
        if steps < 1:
            return _fail(f"--steps must be ≥ 1, got {steps}")
        session = Session(project)
    except (ProjectError, GraphFormatError, SessionError) as exc:
        return _fail(str(exc))
    print(f"training {project.name}: {steps} steps, {project.training.optimizer} "
          f"lr={project.training.lr:g}, batch {project.training.batch_size}", flush=True)
    t0 = time.perf_counter()
    every = max(1, steps // 10)

    def checkpoint() -> str | None:
        """Save the run to --save (atomically); the error text when it cannot be."""
        try:
            save(session.to_project(), args.save)
        except (ProjectError, OSError) as exc:
            return str(exc)
        return None

    def progress(m):
        if m["step"] % every == 0 or m["step"] == steps:
            parts = [f"step {m['step']:>6}", f"loss {m['loss']:.4f}"]
            if "accuracy" in m:
                parts.append(f"acc {m['accuracy']:.3f}")
            print("  ".join(parts), flush=True)
            if args.save and "diverged" not in m and m["step"] != steps:
                failed = checkpoint()
                if failed:
                    print(f"playground: warning: checkpoint not saved: {failed}",
                          file=sys.stderr)
        return "diverged" in m

    final = session.train(steps, callback=progress)
    seconds = time.perf_counter() - t0
    final["seconds"] = round(seconds, 3)
    final["steps_per_sec"] = round(session.step_count / seconds, 1) if seconds > 0 else 0.0
    if "diverged" in final:
        from playground.session.diagnose import explain_divergence

        print(explain_divergence(session), file=sys.stderr)
    order = ["step", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "steps_per_sec"]
    out = {k: final[k] for k in order if k in final}
    out.update({k: v for k, v in final.items()  # the recipe's own (d_real, kl, ...)
                if k not in out and isinstance(v, (int, float))})
    if args.save:
        if "diverged" in final:
            print(f"playground: not saved to {args.save}: training diverged (its "
                  "last checkpoint, if any, is kept)", file=sys.stderr)
        else:
            failed = checkpoint()
            if failed:
                return _fail(f"cannot save {args.save}: {failed}")
            print(f"saved {args.save}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    else:
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in out.items()))
    return 1 if "diverged" in final else 0


def cmd_summary(args) -> int:
    from playground.graph import GraphFormatError, GraphModel, summary
    from playground.project import ProjectError, load

    try:
        model = GraphModel.from_dict(load(args.project).graph)
    except (ProjectError, GraphFormatError) as exc:
        return _fail(str(exc))
    s = summary(model)
    text = json.dumps(s.to_json()) + "\n" if args.json else {
        "text": lambda: s.to_text() + "\n", "csv": s.to_csv, "markdown": s.to_markdown}[
        args.format]()
    if args.output is None:
        print(text, end="")
        return 0
    try:
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except OSError as exc:
        return _fail(f"{args.output}: cannot write: {exc}")
    print(f"wrote {args.output}")
    return 0


#: The end of a sentence: a full stop before a capital, not the one of "et al." or "e.g.".
_FIRST_SENTENCE = re.compile(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)\.\s+(?=[A-Z(])")


def cmd_presets(args) -> int:
    from playground.project import load, preset_names

    for name in preset_names():
        notes = load(name).notes
        first = _FIRST_SENTENCE.split(notes, maxsplit=1)[0].strip() if notes else ""
        print(f"{name:<16} {first}")
    return 0


def cmd_screenshot(args) -> int:
    from playground.project import ProjectError, resolve

    try:
        resolve(args.project)
    except ProjectError as exc:
        return _fail(str(exc))
    for flag in ("steps", "forward_steps", "backward_steps"):
        if getattr(args, flag) < 0:
            return _fail(f"--{flag.replace('_', '-')} must be ≥ 0, got {getattr(args, flag)}")
    size = re.fullmatch(r"(\d{2,5})x(\d{2,5})", args.size)
    if size is None:
        return _fail(f"--size must be WIDTHxHEIGHT in pixels, e.g. 1366x768; got {args.size!r}")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # renders without a screen
    from playground.ui.app import screenshot

    try:
        path = screenshot(args.project, args.output, steps=args.steps,
                          size=(int(size[1]), int(size[2])), open_blocks=args.open,
                          select=args.select, forward_steps=args.forward_steps,
                          backward_steps=args.backward_steps)
    except ValueError as exc:
        return _fail(str(exc))
    print(f"wrote {path}")
    return 0


def cmd_gui(args) -> int:
    from playground.graph import GraphFormatError, GraphModel
    from playground.project import ProjectError, load

    try:  # the same one-line refusal as `train`, before any window appears
        project = load(args.project or DEFAULT_PRESET)
        GraphModel.from_dict(project.graph)
    except (ProjectError, GraphFormatError) as exc:
        return _fail(str(exc))
    from playground.ui.app import run_gui

    return run_gui(project)


def cmd_export(args) -> int:
    from pathlib import Path

    from playground.graph import GraphFormatError
    from playground.project import ProjectError, load

    try:
        project = load(args.project)
    except (ProjectError, GraphFormatError) as exc:
        return _fail(str(exc))
    if args.format == "pytorch":
        if args.part is not None:
            return _fail("--part is for --format onnx")
        try:
            from playground.export.pytorch_code import export_pytorch
        except ImportError as exc:
            print(f"playground: error: PyTorch code export is not available ({exc})",
                  file=sys.stderr)
            return 1
        try:
            out = export_pytorch(project, Path(args.output))
        except (ValueError, OSError) as exc:
            return _fail(str(exc))
        print(f"wrote {out}")
        return 0
    from playground.export.onnx_export import ExportError, export_onnx, require_onnx

    try:
        path = export_onnx(project, args.output, part=args.part)
        proto = require_onnx().load(str(path))
    except ExportError as exc:
        return _fail(str(exc))
    print(f"wrote {path}: inputs {_onnx_values(proto.graph.input)}; outputs "
          f"{_onnx_values(proto.graph.output)}; {len(proto.graph.node)} ONNX nodes")
    return 0


def _onnx_values(values) -> str:
    """``x (N, 2), target (N, 8)``."""
    out = []
    for v in values:
        dims = [d.dim_param or str(d.dim_value) for d in v.type.tensor_type.shape.dim]
        out.append(f"{v.name} ({', '.join(dims)})")
    return ", ".join(out)


def cmd_import(args) -> int:
    from playground.export.onnx_import import OnnxImportError, import_onnx
    from playground.project import ProjectError, save

    try:
        project = import_onnx(args.model, dataset=args.dataset)
        path = save(project, args.output)
    except (OnnxImportError, ProjectError) as exc:
        return _fail(str(exc))
    nodes = len(project.graph["nodes"])
    params = sum(int(v.size) for v in (project.weights or {}).values())
    print(f"wrote {path} and its weights: {nodes} nodes, {params:,} parameters")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "gui"
    if command == "gui" and not hasattr(args, "project"):
        args.project = None
    if command in ("train", "summary", "export"):  # image folders decode with Qt's QImage
        from playground.ui.image_files import install
        install()
    handler = {"gui": cmd_gui, "train": cmd_train, "summary": cmd_summary,
               "screenshot": cmd_screenshot, "presets": cmd_presets, "export": cmd_export,
               "import": cmd_import}[command]
    return handler(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
