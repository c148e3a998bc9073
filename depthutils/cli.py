"""Command line: ``python -m depthutils {synth,download,models,train,evaluate,predict,pipeline,bench}``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _wh(s: str) -> tuple[int, int]:
    """'256x192' → (256, 192): width first, as the synthetic renders and image files are sized."""
    w, h = (int(v) for v in s.lower().split("x"))
    return w, h


def _synth(a: argparse.Namespace) -> int:
    from .data.synthetic import write_synthetic_mat

    w, h = _wh(a.size)
    path = write_synthetic_mat(a.out, count=a.count, seed=a.seed, size=(w, h), workers=a.workers)
    print(f"wrote {a.count} synthetic scenes at {w}x{h} (seed {a.seed}) to {path} and {path.with_name('splits.mat')}")
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
    return 0


def _train(a: argparse.Namespace) -> int:
    from .config import TrainConfig
    from .train import fit

    epochs = a.epochs
    if a.resume and epochs is None and (Path(a.out) / "config.json").exists():
        # resuming without --epochs finishes the run as it was started, not the report's preset
        epochs = json.loads((Path(a.out) / "config.json").read_text())["config"]["epochs"]
    cfg = TrainConfig(model=a.model, data=a.data, epochs=epochs, batch_size=a.batch_size, lr=a.lr,
                      weight_decay=a.weight_decay, loss=a.loss, image_size=a.image_size, seed=a.seed, split=a.split,
                      limit=a.limit, test_limit=a.test_limit, pretrained=a.pretrained, max_depth=a.max_depth,
                      lr_schedule=a.lr_schedule, flip_tta=a.flip_tta, device=a.device, compile=a.compile,
                      synth_count=a.synth_count, synth_size=_wh(a.synth_size))
    try:
        r = fit(cfg, a.out, resume=a.resume, progress=not a.quiet)
    except KeyboardInterrupt:
        return 130
    m = r["metrics"]
    print(f"done: {a.out}/results.json  L1 {m['l1_global']:.4f}  MSE {m['mse_global']:.4f}  δ1 {m['delta1']:.3f}  "
          f"AbsRel {m['abs_rel']:.3f}  RMSE {m['rmse']:.3f} m  ({r['dataset']['kind']} data, "
          f"encoder {r['pretrained']['used']})")
    return 0


def _evaluate(a: argparse.Namespace) -> int:
    from ._env import device_name, git_commit, resolve_device, versions
    from ._io import write_json_atomic
    from .config import TrainConfig
    from .data import load_dataset
    from .metrics import STANDARD_KEYS
    from .train import DeviceData, evaluate, load_checkpoint, model_from_checkpoint

    ck = load_checkpoint(a.checkpoint)
    cfg = TrainConfig.from_dict(ck["config"])
    device = resolve_device(a.device)
    data = load_dataset(a.data or cfg.data, split=a.split or cfg.split, split_seed=cfg.seed, limit=0,
                        test_limit=a.test_limit, synth_count=cfg.synth_count, synth_size=cfg.synth_size)
    model = model_from_checkpoint(ck, device)
    m = evaluate(model, DeviceData(data, data.test, device), image_size=cfg.image_size, max_depth=cfg.max_depth,
                 flip_tta=a.flip_tta, edges=True, eigen_variant=True)
    if a.eigen_crop:  # the standard set with the Eigen crop becomes the primary one; the uncropped stays as full_*
        m.update({f"full_{k}": m[k] for k in STANDARD_KEYS})
        m.update({k: m[f"eigen_{k}"] for k in STANDARD_KEYS})
    out = Path(a.out or Path(a.checkpoint).with_name("evaluation.json"))
    res = {"model_name": ck["model_name"], "title": ck["title"], "checkpoint": str(a.checkpoint),
           "epochs": ck["epoch"], "dataset": data.identity, "pretrained": ck["pretrained"],
           "eigen_crop": a.eigen_crop, "flip_tta": a.flip_tta, "metrics": m, "train_config": ck["config"],
           "versions": versions(), "git_commit": git_commit(), "device": device_name(device)}
    write_json_atomic(out, res)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}, indent=1))
    print(f"wrote {out}")
    return 0


def _predict(a: argparse.Namespace) -> int:
    from ._env import resolve_device
    from .config import TrainConfig
    from .predict import predict_paths
    from .train import load_checkpoint, model_from_checkpoint

    ck = load_checkpoint(a.checkpoint)
    cfg = TrainConfig.from_dict(ck["config"])
    model = model_from_checkpoint(ck, resolve_device(a.device))
    written, failed = predict_paths(model, a.inputs, a.out, image_size=cfg.image_size, max_depth=cfg.max_depth,
                                    ply=a.ply, flip_tta=a.flip_tta)
    print(f"wrote {len(written)} files to {a.out}; {len(failed)} input(s) failed")
    for p, why in failed:
        print(f"  failed: {p}: {why}", file=sys.stderr)
    return 1 if failed else 0


def _pipeline(a: argparse.Namespace) -> int:
    from .pipeline import run_pipeline

    return run_pipeline(profile=a.profile, data=a.data, out=a.out, only=a.only)


def _bench(a: argparse.Namespace) -> int:
    from .bench import run_bench

    run_bench(device=a.device, quick=a.quick, out=a.out, models=a.models)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m depthutils", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("synth", help="render the synthetic dataset in the official .mat layout")
    s.add_argument("--out", default="data/synthetic/nyu_depth_v2_labeled.mat")
    s.add_argument("--count", type=int, default=1449)
    s.add_argument("--size", default="640x480", help="WxH (default 640x480, NYU's)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=None)
    s.set_defaults(fn=_synth)

    s = sub.add_parser("download", help="fetch the official labeled .mat (2.8 GB) and splits.mat")
    s.add_argument("--out", default="data/nyu")
    s.set_defaults(fn=_download)

    s = sub.add_parser("models", help="list the models with parameter counts and encoders")
    s.set_defaults(fn=_models)

    s = sub.add_parser("train", help="train a model")
    s.add_argument("--model", required=True)
    s.add_argument("--data", default=None, help="'synthetic', a .mat file or an RGB-D folder (default: "
                   "$DEPTHUTILS_DATA, else synthetic)")
    s.add_argument("--out", required=True)
    s.add_argument("--epochs", type=int, default=None, help="default: the report's schedule for the model "
                   "(with --resume: the resumed run's own count)")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--lr", type=float, default=1e-4)
    s.add_argument("--weight-decay", type=float, default=0.0)
    s.add_argument("--loss", default="l1", help="l1, berhu, ssim_l1, gradient, silog or a sum like 'silog+0.5*gradient'")
    s.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"])
    s.add_argument("--image-size", default="128", help="N or HxW, multiples of 32")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--split", default="report", choices=["report", "official"])
    s.add_argument("--limit", type=int, default=None, help="use the first N training images")
    s.add_argument("--test-limit", type=int, default=None, help="use the first N test images")
    s.add_argument("--pretrained", default="auto", choices=["true", "false", "auto"])
    s.add_argument("--max-depth", type=float, default=10.0)
    s.add_argument("--flip-tta", action="store_true", help="flip test-time augmentation in the final evaluation")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--compile", action="store_true")
    s.add_argument("--synth-count", type=int, default=1449, help="scenes in the synthetic set (with --data synthetic)")
    s.add_argument("--synth-size", default="256x192", help="WxH of the synthetic renders")
    s.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=_train)

    s = sub.add_parser("evaluate", help="test-set metrics of a checkpoint → results JSON")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--data", default=None, help="default: the data the checkpoint was trained on")
    s.add_argument("--split", default=None, choices=["report", "official"])
    s.add_argument("--test-limit", type=int, default=None)
    s.add_argument("--eigen-crop", action="store_true")
    s.add_argument("--flip-tta", action="store_true")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--out", default=None, help="default: evaluation.json beside the checkpoint")
    s.set_defaults(fn=_evaluate)

    s = sub.add_parser("predict", help="depth for your own photos")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("inputs", nargs="+", help="image files or folders")
    s.add_argument("--out", required=True)
    s.add_argument("--ply", action="store_true", help="also write a coloured point cloud (NYU intrinsics)")
    s.add_argument("--flip-tta", action="store_true")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.set_defaults(fn=_predict)

    s = sub.add_parser("pipeline", help="run every notebook in order through papermill")
    s.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "full"])
    s.add_argument("--data", default=None, help="real data path (default: $DEPTHUTILS_DATA, else synthetic)")
    s.add_argument("--out", default=None, help="default: runs/<profile>")
    s.add_argument("--only", default=None, help="comma-separated notebook name prefixes to run")
    s.set_defaults(fn=_pipeline)

    s = sub.add_parser("bench", help="engine vs. plain-loop throughput, latency, scaling")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    s.add_argument("--quick", action="store_true")
    s.add_argument("--models", default=None, help="comma-separated model names (default: all)")
    s.add_argument("--out", default=None)
    s.set_defaults(fn=_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    from .data.nyu import DataError
    from .train import CheckpointError

    a = build_parser().parse_args(argv)
    try:
        return a.fn(a)
    except (DataError, CheckpointError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
