"""Command line: ``python -m depthutils COMMAND``: synth, download, models, train, evaluate, baselines, predict,
demo, export, pipeline, bench.

The ``train`` flags are generated from :class:`~depthutils.config.TrainConfig`'s fields, so a setting is declared
once. Only the flags a user gives are passed on: with ``--resume`` everything else comes from the run itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]


def _positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def _finite(lo: float, *, inclusive: bool) -> type:
    """An argparse type: a finite float above ``lo`` (or at least ``lo``), refused before any work."""

    def parse(s: str) -> float:
        import math

        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
        if not math.isfinite(v) or v < lo or (v == lo and not inclusive):
            raise argparse.ArgumentTypeError(f"must be a finite number {'≥' if inclusive else '>'} {lo:g}, got {s}")
        return v

    return parse  # type: ignore[return-value]


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field; defaults stay in the dataclass (argparse.SUPPRESS keeps unset flags out)."""
    from .config import config_fields

    for f in config_fields():
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not f.default_factory else None
        shown = "x".join(map(str, default)) if isinstance(default, tuple) else default
        help_ = f"{f.metadata['help']} (default: {shown})"
        kw: dict = {"default": argparse.SUPPRESS, "help": help_}
        t = str(f.type)
        if "choices" in f.metadata:
            kw["choices"] = list(f.metadata["choices"])
        if t == "bool":
            kw["action"] = argparse.BooleanOptionalAction
        elif t.startswith("tuple[float"):
            kw.update(type=float, nargs=2, metavar=("LO", "HI"))
        elif t.startswith("int"):
            kw["type"] = int
        elif t.startswith("float"):
            kw["type"] = float
        p.add_argument(flag, **kw)


def _synth(a: argparse.Namespace) -> int:
    from ._io import refuse_to_replace
    from .config import parse_size
    from .data.synthetic import write_synthetic_mat

    h, w = parse_size(a.size)
    refuse_to_replace(a.out, Path(a.out).with_name("splits.mat"), overwrite=a.overwrite)
    path = write_synthetic_mat(a.out, count=a.count, seed=a.seed, size=(h, w), workers=a.workers)
    print(
        f"wrote {a.count} synthetic scenes at {h}x{w} (HxW, seed {a.seed}) to {path} and {path.with_name('splits.mat')}"
    )
    return 0


def _download(a: argparse.Namespace) -> int:
    from .data.download import download_nyu

    for p in download_nyu(a.out):
        print(f"ok: {p}")
    return 0


def _models(a: argparse.Namespace) -> int:
    from .models import build_model, get_spec, list_models

    print(f"{'name':22s} {'report row':20s} {'encoder':22s} {'parameters':>12s}")
    for name in list_models():
        spec = get_spec(name)
        n = build_model(name, pretrained=False).meta["n_params"]
        print(f"{name:22s} {spec.title:20s} {spec.encoder:22s} {n:12,d}")
    from .models import get_weights, list_weights

    print(f"\n{'shipped weights':22s} {'architecture':20s} {'input HxW':22s} {'test delta1':>12s}")
    for name in list_weights():
        w = get_weights(name)
        size = f"{w.image_size[0]}x{w.image_size[1]}"
        print(f"{name:22s} {w.model:20s} {size:22s} {w.meta['metrics']['standard']['delta1']:12.3f}")
    return 0


def _stored_settings(a: argparse.Namespace) -> tuple[dict[str, Any] | None, Path | None]:
    """The settings of the run to resume and the file they came from: its config.json, or, when that is gone,
    the checkpoint it resumes from (which holds them too); (None, None) for an empty folder."""
    from .run_folder import RunFolder, load_checkpoint

    run = RunFolder(a.out)
    stored = run.read_config()
    if stored is not None:
        return stored["config"], run.config
    ck = Path(a.resume_from) if a.resume_from else run.last
    if not ck.exists():
        return None, None
    print(f"note: {run.config} is missing; the run's settings are read from {ck}", file=sys.stderr)
    return load_checkpoint(ck)["config"], ck


def _train(a: argparse.Namespace) -> int:
    from .config import TrainConfig, config_fields
    from .train import fit

    given = {f.name: getattr(a, f.name) for f in config_fields() if hasattr(a, f.name)}
    stored, source = _stored_settings(a) if (a.resume or a.resume_from) else (None, None)
    if stored is not None:  # resuming: the run's own settings, overridden only by what was given
        try:
            cfg = TrainConfig.from_dict({**stored, **given})  # its own epochs too, even before its first
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None
    elif "model" not in given:
        raise ValueError("--model is required (python -m depthutils models lists them)")
    else:
        cfg = TrainConfig(**given)
    try:
        r = fit(cfg, a.out, resume=a.resume or bool(a.resume_from), resume_from=a.resume_from, progress=not a.quiet)
    except KeyboardInterrupt:
        return 130
    if r is None:  # a torchrun process other than rank 0: rank 0 reports
        return 0
    m = r["protocols"]["standard"]
    p = m["protocol"]
    print(
        f"done: {Path(a.out) / 'results.json'}  standard protocol (GT {p['gt_resolution_hw'][0]}x"
        f"{p['gt_resolution_hw'][1]}, Eigen crop, flip TTA {p['flip_tta']}): δ1 {m['delta1']:.3f}  "
        f"AbsRel {m['abs_rel']:.3f}  RMSE {m['rmse']:.3f} m  ({r['dataset']['kind']} data, encoder "
        f"{r['pretrained']['used']}, {r['precision']})"
    )
    return 0


def _evaluate(a: argparse.Namespace) -> int:
    from ._io import refuse_to_replace, write_json_atomic
    from .evaluation import evaluate_checkpoint

    out = Path(a.out or (Path(a.checkpoint).with_name("evaluation.json") if a.checkpoint else "evaluation.json"))
    refuse_to_replace(out, overwrite=a.overwrite)
    res = evaluate_checkpoint(
        a.checkpoint or None,  # an empty --checkpoint means none: the shipped weights (the default ones)
        weights=a.weights if (a.weights or a.checkpoint or a.onnx) else "",
        onnx=a.onnx,
        data=a.data,
        gt_data=a.gt_data,
        split=a.split,
        test_limit=a.test_limit,
        flip_tta=a.flip_tta,
        precision=a.precision,
        device=a.device,
    )
    write_json_atomic(out, res)
    for name, m in res["protocols"].items():
        keys = ("delta1", "abs_rel", "rmse", "l1_global", "n_images")
        print(name, {k: round(m[k], 4) if isinstance(m[k], float) else m[k] for k in keys if k in m})
    print(f"wrote {out}")
    return 0


def _baselines(a: argparse.Namespace) -> int:
    from ._io import refuse_to_replace, write_json_atomic
    from .baselines import evaluate_baselines
    from .config import parse_size
    from .data import load_dataset

    refuse_to_replace(a.out, overwrite=a.overwrite)
    data = load_dataset(a.data, split=a.split, val_fraction=0.0, gt_data=a.gt_data)  # every training image
    res = evaluate_baselines(data, image_size=parse_size(a.image_size))
    write_json_atomic(a.out, res)
    for r in res["rows"].values():
        m = r["protocols"]["standard"]
        print(
            f"{r['title']}: standard protocol δ1 {m['delta1']:.3f}  AbsRel {m['abs_rel']:.3f}  RMSE {m['rmse']:.2f} m"
            f"  L1 (÷10 m) {m['l1_global']:.4f}  MSE (÷10 m) {m['mse_global']:.4f}"
        )
    print(f"wrote {a.out}")
    return 0


def _predict(a: argparse.Namespace) -> int:
    from ._env import resolve_device
    from .predict import load_predictor, predict_paths

    if a.backend == "onnx" and not a.onnx:
        raise SystemExit(
            "predict --backend onnx runs an exported graph: give it with --onnx PATH (make one with "
            "python -m depthutils export --weights NAME --onnx PATH)"
        )
    if a.onnx and a.backend == "torch":
        raise SystemExit("--onnx is a graph for ONNX Runtime: drop --backend torch (or the --onnx)")
    predictor = load_predictor(a.checkpoint, a.weights, resolve_device(a.device), onnx=a.onnx)
    print(f"model: {predictor.label}", file=sys.stderr)
    written, failed = predict_paths(
        predictor, a.inputs, a.out, ply=a.ply, flip_tta=a.flip_tta, overwrite=a.overwrite, fx=a.fx
    )
    # each failure was printed as it happened ("FAILED photo: why"): the summary only counts them
    print(f"wrote {len(written)} files to {a.out} with {predictor.label}; {len(failed)} input(s) failed")
    return 1 if failed else 0


def _demo(a: argparse.Namespace) -> int:
    from .demo import launch

    if a.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"note: serving on {a.host}: anyone who can reach this machine on port {a.port} can use the demo "
            "(and your CPU). There is no login. Use 127.0.0.1 to keep it to this machine.",
            file=sys.stderr,
        )
    launch(weights=a.weights, checkpoint=a.checkpoint, host=a.host, port=a.port, max_queue=a.max_queue)
    return 0


def _export(a: argparse.Namespace) -> int:
    from .release import export_weights

    if a.onnx:
        if a.run or a.name:
            raise SystemExit("export --onnx exports shipped weights (--weights NAME): drop --run/--name")
        from .onnx_backend import export_onnx

        meta = export_onnx(a.weights, a.onnx, overwrite=a.overwrite)
        print(f"wrote {a.onnx}: shipped weights {meta['weights']} ({meta['model']}), input 1x3x{meta['image_size_hw']}")
        print(f"  run it: python -m depthutils predict --backend onnx --onnx {a.onnx} PHOTOS --out DIR")
        return 0
    if not (a.run and a.name) or a.weights:
        raise SystemExit("export needs --run RUN --name NAME (a run → shipped weights), or --weights NAME --onnx PATH")
    w = export_weights(
        a.run, a.name, extra_time_s=a.extra_time_s, metrics=a.metrics, note=a.note, overwrite=a.overwrite
    )
    print(f"wrote {w.folder}: {w.file.name} ({w.meta['file_bytes'] / 1e6:.1f} MB, SHA-256 {w.meta['sha256']}),")
    print(f"  meta.json and README.md (the model card); load it with build_model({w.model!r}, weights={w.name!r})")
    return 0


def _retrain(a: argparse.Namespace) -> int:
    from .retrain import RETRAIN_FILE, retrain

    report = retrain(a.weights, data=a.data, gt_data=a.gt_data, out=a.out, progress=not a.quiet)
    print(f"{a.weights} retrained into {report['run']}, scored on {report['n_images']} test images:")
    for k, m in report["metrics"].items():
        lo, hi = m["card_ci95"]
        where = "within" if m["within_ci95"] else "OUTSIDE"
        print(f"  {k}: {m['retrained']:.4f} (card {m['card']:.4f}, 95% CI [{lo:.4f}, {hi:.4f}]: {where})")
    print(f"wrote {Path(a.out) / RETRAIN_FILE}")
    return 0


def _pipeline(a: argparse.Namespace) -> int:
    from .pipeline import default_out, pipeline_status, run_pipeline, train_row

    if a.status:  # the folder the same command without --status would write: profile and --data decide it
        return pipeline_status(a.out or default_out(a.profile, a.data))
    if a.row:
        train_row(profile=a.profile, row=a.row, data=a.data, gt_data=a.gt_data, out=a.out, precision=a.precision)
        return 0
    return run_pipeline(
        profile=a.profile,
        data=a.data,
        gt_data=a.gt_data,
        out=a.out,
        only=a.only,
        precision=a.precision,
        figures=a.figures,
        tables=a.tables,
    )


def _bench(a: argparse.Namespace) -> int:
    from ._io import refuse_to_replace
    from .bench import run_bench, run_zoo_bench
    from .config import parse_size

    flags = (("--batch", a.batch), ("--compile", a.compile), ("--profile", a.profile), ("--image-size", a.image_size))
    given = [flag for flag, v in flags if v]
    if a.zoo and given:
        raise SystemExit(f"bench --zoo measures each model at its recipe's batch, eager: drop {', '.join(given)}")
    default = Path("report") / "generated" / f"benchmark-{'zoo-cpu' if a.zoo else a.device}.json"
    out = Path(a.out) if a.out else default
    refuse_to_replace(out, out.with_suffix(".md"), overwrite=a.overwrite)
    a.out = out
    if a.zoo:
        run_zoo_bench(out=a.out, data=a.data)
        return 0
    if a.data:
        raise SystemExit("bench --data is for --zoo (it calibrates and scores the int8 graphs)")
    run_bench(
        device=a.device,
        quick=a.quick,
        out=a.out,
        models=a.models,
        precision=a.precision,
        batch=a.batch,
        compile=a.compile,
        profile=a.profile,
        image_size=parse_size(a.image_size) if a.image_size else None,
    )
    return 0


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    """synth, download, models."""
    from .data.nyu import NYU_N

    s = sub.add_parser("synth", help="render the synthetic dataset in the official .mat layout")
    s.add_argument("--out", default="data/synthetic/nyu_depth_v2_labeled.mat")
    s.add_argument("--count", type=_positive_int, default=NYU_N)
    s.add_argument("--size", default="480x640", help="HxW (default 480x640, NYU's)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=_positive_int, default=None)
    s.add_argument("--overwrite", action="store_true", help="replace an existing --out and the splits.mat beside it")
    s.set_defaults(fn=_synth)

    s = sub.add_parser("download", help="fetch the official labeled .mat (2.8 GB) and splits.mat")
    s.add_argument("--out", default="data/nyu")
    s.set_defaults(fn=_download)

    s = sub.add_parser("models", help="list the models with parameter counts and encoders")
    s.set_defaults(fn=_models)


def _add_train_command(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("train", help="train a model (flags: the fields of TrainConfig)")
    s.add_argument("--out", required=True, help="the run folder")
    _add_config_flags(s)
    s.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in OUT from its last.pt (finished runs "
        "are left as they are; only a longer --epochs may change)",
    )
    s.add_argument("--resume-from", default=None, help="continue from this checkpoint instead of OUT/last.pt")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=_train)


def _add_evaluate_commands(sub: argparse._SubParsersAction) -> None:
    """evaluate, baselines."""
    from .config import PRECISIONS, SPLITS

    s = sub.add_parser("evaluate", help="test-set metrics of a checkpoint or shipped weights, both protocols → JSON")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--checkpoint", help="a run's last.pt or best.pt")
    g.add_argument("--weights", help="shipped weights by name (python -m depthutils models lists them)")
    g.add_argument("--onnx", help="an exported graph of shipped weights (export --onnx), run by ONNX Runtime")
    s.add_argument(
        "--data",
        default=None,
        help="default: the data the checkpoint was trained on; a folder of "
        "NAME/rgb.png + NAME/depth.png frames from other cameras is scored raw and median-scaled",
    )
    s.add_argument("--gt-data", default=None, help="full-resolution ground truth (default: the run's)")
    s.add_argument("--split", default=None, choices=SPLITS)
    s.add_argument("--test-limit", type=_positive_int, default=None)
    s.add_argument(
        "--flip-tta",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="flip TTA in the standard protocol (default: on)",
    )
    s.add_argument(
        "--precision",
        default=None,
        choices=PRECISIONS,
        help="default: with --weights the model card's (fp32, so that any machine reproduces it), else auto",
    )
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--out", default=None, help="default: evaluation.json beside the checkpoint (with --weights: here)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    s.set_defaults(fn=_evaluate)

    s = sub.add_parser("baselines", help="the image-blind baselines (mean depth map, median constant) → JSON")
    s.add_argument("--data", required=True, help="a .mat file or an RGB-D folder")
    s.add_argument("--split", default="official", choices=SPLITS)
    s.add_argument("--gt-data", default=None, help="full-resolution ground truth for the standard protocol")
    s.add_argument("--image-size", default="128", help="the model input they stand in for (report protocol)")
    s.add_argument("--out", required=True)
    s.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    s.set_defaults(fn=_baselines)


def _add_use_commands(sub: argparse._SubParsersAction) -> None:
    """predict, demo, export: using a trained model."""
    s = sub.add_parser("predict", help="depth for your own photos (default: the default shipped weights)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--checkpoint", default=None, help="a run's last.pt or best.pt instead of shipped weights")
    g.add_argument("--weights", default=None, help="shipped weights by name (default: the shipped default)")
    g.add_argument("--onnx", default=None, help="an exported graph (export --onnx), run by ONNX Runtime on the CPU")
    s.add_argument(
        "--backend", default=None, choices=["torch", "onnx"], help="torch (default), or onnx (needs --onnx PATH)"
    )
    s.add_argument("inputs", nargs="+", help="image files or folders")
    s.add_argument("--out", required=True)
    s.add_argument("--ply", action="store_true", help="also write a coloured point cloud (.ply)")
    s.add_argument(
        "--fx",
        type=_finite(0, inclusive=False),
        default=None,
        help="focal length in pixels for the point cloud (default: "
        "the photo's EXIF focal length, else NYU's intrinsics scaled to the photo)",
    )
    s.add_argument("--overwrite", action="store_true", help="replace outputs that already exist in --out")
    s.add_argument(
        "--flip-tta",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="average with the mirrored photo's prediction (default: on, as in the standard protocol)",
    )
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.set_defaults(fn=_predict)
    s = sub.add_parser("demo", help="a local web page: drop a photo, see its depth and turn it in 3D (Gradio)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--checkpoint", default=None, help="a run's last.pt or best.pt instead of shipped weights")
    g.add_argument("--weights", default=None, help="shipped weights by name (default: the shipped default)")
    s.add_argument("--host", default="127.0.0.1", help="address to serve on (default: this machine only)")
    s.add_argument("--port", type=_positive_int, default=7860)
    s.add_argument("--max-queue", type=_positive_int, default=8, help="requests waiting beyond this are refused")
    s.set_defaults(fn=_demo)
    s = sub.add_parser(
        "export",
        help="a finished run → shipped weights (fp16 safetensors, meta.json, model card); or shipped weights → ONNX",
    )
    s.add_argument("--run", default=None, help="the run folder (last.pt and results.json)")
    s.add_argument("--name", default=None, help="the weights' name, e.g. nyu-regnet-unet")
    s.add_argument("--weights", default=None, help="with --onnx: shipped weights by name (default: the default)")
    s.add_argument("--onnx", default=None, help="write the shipped weights as an ONNX graph (BatchNorm folded) here")
    s.add_argument(
        "--extra-time-s",
        type=_finite(0, inclusive=True),
        default=None,
        help="training outside the run (default: the recorded time of its pretraining and teachers)",
    )
    s.add_argument(
        "--metrics", default=None, help="evaluate's JSON for RUN/last.pt to quote (default: RUN/results.json)"
    )
    s.add_argument("--note", default="", help="a sentence for the model card (e.g. what the model is an interim for)")
    s.add_argument("--overwrite", action="store_true", help="replace shipped weights (or --onnx file) of the same name")
    s.set_defaults(fn=_export)


def _add_study_commands(sub: argparse._SubParsersAction) -> None:
    """pipeline, bench, ladder, retrain."""
    from .config import PRECISIONS
    from .study import PROFILES

    s = sub.add_parser("pipeline", help="run every notebook in order through papermill (resumes where it stopped)")
    s.add_argument("--profile", default="cpu", choices=list(PROFILES))
    s.add_argument("--data", default=None, help="real data path (default: $DEPTHUTILS_DATA, else synthetic)")
    s.add_argument("--gt-data", default=None, help="full-resolution ground truth for the standard protocol")
    s.add_argument("--out", default=None, help="default: results/<profile>-<data kind> (runs/ for smoke)")
    s.add_argument("--figures", default=None, help="default: figures/<profile>-<data kind> (OUT/figures for smoke)")
    s.add_argument("--tables", default=None, help="default: report/generated/<tag>.md (OUT/tables.md for smoke)")
    s.add_argument("--only", default=None, help="comma-separated notebook name prefixes to run")
    s.add_argument("--precision", default="auto", choices=PRECISIONS)
    s.add_argument("--status", action="store_true", help="print each row's progress and an ETA, then exit")
    s.add_argument(
        "--row",
        default=None,
        help="train only this row (its run folder's name) without its notebook, "
        "e.g. under torchrun; the pipeline then finds it finished",
    )
    s.set_defaults(fn=_pipeline)

    s = sub.add_parser("bench", help="engine vs. plain-loop throughput, latency, scaling")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    s.add_argument("--quick", action="store_true")
    s.add_argument(
        "--zoo",
        action="store_true",
        help="the shipped models beside the improved row: ms per 640x480 photo and training img/s (CPU)",
    )
    s.add_argument("--models", default=None, help="comma-separated model names (default: all)")
    s.add_argument("--precision", default="auto", choices=PRECISIONS)
    s.add_argument("--batch", type=_positive_int, default=None, help="training batch (default 64; --quick 2)")
    s.add_argument("--compile", action="store_true", help="the engine's model under torch.compile")
    s.add_argument("--profile", action="store_true", help="add a torch.profiler table of each engine step")
    s.add_argument("--image-size", default=None, help="HxW input of the training step (default: 128x128)")
    s.add_argument(
        "--data",
        default=None,
        help="with --zoo: the shipped models' training data (e.g. ../shared/data/nyu_v2_labeled_256x192), to "
        "calibrate their int8 ONNX graphs and score them on the validation images (int8 is left out without it)",
    )
    s.add_argument(
        "--out", default=None, help="default: report/generated/benchmark-<device>.json (--zoo: benchmark-zoo-cpu)"
    )
    s.add_argument("--overwrite", action="store_true", help="replace an existing --out and its .md")
    s.set_defaults(fn=_bench)

    from .study import LADDERS

    s = sub.add_parser(
        "ladder",
        help="a validation ladder of the study: walk it (resumes), write its table, train its final row (--final)",
    )
    s.add_argument("name", choices=list(LADDERS), help="the ladder (the study manifest's LADDERS)")
    s.add_argument("--data", default=None, help="the training data (e.g. ../shared/data/nyu_v2_labeled_256x192)")
    s.add_argument("--out", default=None, help="folder of the steps' runs (default: read the committed records)")
    s.add_argument("--only", default=None, help="comma-separated steps to train (the others must be done)")
    s.add_argument("--table", action="store_true", help="only write the table of what is done (no training)")
    s.add_argument("--final", type=_positive_int, default=None, help="train the chosen recipe for this many epochs")
    s.add_argument("--gt-data", default=None, help="with --final: full-resolution ground truth for its test scores")
    s.add_argument("--final-out", default=None, help="with --final: default results/report-nyu/runs/NAME")
    s.set_defaults(fn=_ladder)

    s = sub.add_parser("retrain", help="retrain shipped weights from their card and check them against it")
    s.add_argument("weights", help="the shipped weights' name, e.g. nyu-regnet-unet")
    s.add_argument("--data", required=True, help="your copy of the training data the card names")
    s.add_argument("--gt-data", default=None, help="full-resolution ground truth, when the card was scored on it")
    s.add_argument("--out", required=True, help="folder for the runs (resumes what is there)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(fn=_retrain)


def _ladder(a: argparse.Namespace) -> int:
    from .ladder import run

    only = a.only.split(",") if a.only else None
    text = run(
        a.name,
        out=a.out,
        data=a.data,
        gt_data=a.gt_data,
        only=only,
        table_only=a.table,
        final=a.final,
        final_out=a.final_out,
    )
    print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, in the order ``--help`` lists them."""
    p = argparse.ArgumentParser(prog="python -m depthutils", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    _add_data_commands(sub)
    _add_train_command(sub)
    _add_evaluate_commands(sub)
    _add_use_commands(sub)
    _add_study_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from .data.download import DownloadError
    from .data.nyu import DataError
    from .models import WeightsError
    from .models.encoders import PretrainedWeightsError
    from .run_folder import CheckpointError, RunLockedError
    from .train import NonFiniteLossError

    a = build_parser().parse_args(argv)
    rank = os.environ.get("RANK") if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None
    where = f"rank {rank}: " if rank is not None else ""
    try:
        return a.fn(a)
    except (
        DataError,
        DownloadError,
        CheckpointError,
        WeightsError,
        RunLockedError,
        NonFiniteLossError,
        FileNotFoundError,
        FileExistsError,
        IsADirectoryError,
        NotADirectoryError,
        ValueError,
    ) as e:
        print(f"error: {where}{e}", file=sys.stderr)
        return 2
    except OSError as e:  # a read-only --out, a full disk, a symlink loop: say which, where and what is safe
        import errno

        hints: dict[int | None, tuple[str, str]] = {
            errno.ENOSPC: ("the disk is full", "Free space, then run the same command again (with --resume for train)"),
            errno.EROFS: ("the file system is read-only", "Choose another --out"),
            errno.EACCES: ("permission denied", "Choose another --out, or fix the permissions"),
            errno.ELOOP: ("a symbolic link points back at itself", "Fix the link, or give the real path"),
        }
        what, todo = hints.get(e.errno, (e.strerror or str(e), "Check the path"))
        print(
            f"error: {where}{what}: {e.filename or ''}. {todo}. Nothing already written was lost: every file is "
            "written to a temporary name and renamed only when complete, and a run's completed epochs are in its "
            "last.pt.",
            file=sys.stderr,
        )
        return 2
    except PretrainedWeightsError as e:
        print(f"error: {where}{e}", file=sys.stderr)
        return 2
    except Exception as e:
        if rank is None:
            raise
        # under torchrun: one line that says which process failed and how to go on; torchrun stops the others
        out = getattr(a, "out", None)
        print(
            f"error: rank {rank} failed: {type(e).__name__}: {e}. Completed epochs are saved in {out}/last.pt: "
            f"run the same torchrun command with --resume to continue.",
            file=sys.stderr,
        )
        return 1
