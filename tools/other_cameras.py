"""Trained rows on RGB-D frames from other cameras: a per-frame table (raw and median-scaled) and a figure.

    python tools/other_cameras.py --frames ../shared/data/rgbd_samples \
        --run results/report-nyu/runs/resnet_unet --run results/report-nyu/runs/improved \
        --out report/generated/other-cameras.md --figure figures/report-nyu/other_cameras.png
    python tools/other_cameras.py --frames ../shared/data/rgbd_samples \
        --weights nyu-lite2-unet --weights nyu-regnet-unet \
        --out report/generated/other-cameras-shipped.md --figure figures/report-nyu/other_cameras_shipped.png

Each ``--run`` is a row folder holding results.json and its checkpoint (checkpoints stay on the machine that
trained them); each ``--weights`` is a shipped model (in the repository, so any clone can run it). Frames whose
name starts with ``nyu_`` are NYU frames, not other cameras: they are listed apart and left out of the
other-camera means. Only the numbers and the figure are committed; the frames stay where they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from depthutils import plots
from depthutils._io import write_text_atomic
from depthutils.baselines import BASELINES, baseline_models
from depthutils.compare import format_ci
from depthutils.config import TrainConfig
from depthutils.data import read_depth_png, read_rgb
from depthutils.data.dataset import load_data
from depthutils.engine import resolve_precision
from depthutils.metrics import bootstrap_ci
from depthutils.other_cameras import evaluate_frames, list_frames
from depthutils.predict import predict_image
from depthutils.run_folder import load_checkpoint, model_from_checkpoint
from depthutils.study import ROWS, row_title

#: The figure's frames: one per camera that is not NYU's.
FIGURE_FRAMES = ("redwood_0", "tum_0", "sunrgbd_0", "kinect2_esanet_0")


def _crop_43(a: np.ndarray) -> np.ndarray:
    """The central 4:3 (W:H) part of an H×W(×C) array, so that the figure's columns share one shape unsqueezed."""
    h, w = a.shape[:2]
    if w * 3 > h * 4:
        cw = h * 4 // 3
        return a[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    ch = w * 3 // 4
    return a[(h - ch) // 2 : (h - ch) // 2 + ch]


def _resize(a: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a)).float()
    t = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    t = F.interpolate(t, size=size, mode=mode, **({} if mode == "nearest" else {"align_corners": False}))
    return t[0].permute(1, 2, 0).numpy() if a.ndim == 3 else t[0, 0].numpy()


def _shipped(name: str) -> tuple[torch.nn.Module, TrainConfig, dict]:
    """Shipped weights as a row: the model, its settings and the parts of a results.json the table names."""
    from depthutils.models import build_model, get_weights

    w = get_weights(name)
    t = w.meta["training"]
    res = {
        "title": f"{w.meta['title']}, shipped `{name}`",
        "dataset": {"name": t["data"], "split": t["split"], "train_indices": t["train_indices"]},
        "epochs": t["epochs"],
        "pretrained": {"used": t["encoder_init"]},
    }
    return build_model(w.model, weights=name), TrainConfig.from_dict(w.meta["recipe"]), res


def _trained(run: Path) -> tuple[str, tuple[torch.nn.Module, TrainConfig, dict]]:
    """A row folder as (its title, (model, settings, results.json))."""
    res = json.loads((run / "results.json").read_text())
    ck_path = run / res.get("checkpoint", "last.pt")
    if not ck_path.exists():
        raise SystemExit(f"{ck_path}: no checkpoint on this machine; train the row first")
    ck = load_checkpoint(ck_path)
    model = model_from_checkpoint(ck)
    extra = {r.name: r for r in ROWS if not r.in_report_table}  # the study's extra rows keep their table titles
    title = row_title(extra[run.name], res) if run.name in extra else res["title"]
    return title, (model, TrainConfig.from_dict(ck["config"]), res)


def _evaluate(models: dict, frames: str, precision: str) -> dict[str, dict]:
    """Every model on the frames, then the image-blind reference: the mean NYU training depth map, resized to each
    frame (no TTA: it ignores the image)."""
    evals = {
        title: evaluate_frames(model, frames, image_size=cfg.image_size, max_depth=cfg.max_depth, precision=precision)
        for title, (model, cfg, _) in models.items()
    }
    first_cfg = next(iter(models.values()))[1]
    data = load_data(TrainConfig.from_dict({**first_cfg.to_dict(), "limit": None}))
    mean_map = baseline_models(data.depth[np.concatenate([data.train, data.val])], first_cfg.max_depth)["mean_map"]
    evals[BASELINES["mean_map"]] = evaluate_frames(
        mean_map, frames, image_size=first_cfg.image_size, max_depth=first_cfg.max_depth, flip_tta=False
    )
    return evals


def _source(name: str, train: set[int]) -> str:
    """Where a frame comes from (NYU file NNNN is index NNNN-1 of the runs' split)."""
    if not name.startswith("nyu_"):
        return "other camera"
    if name.startswith("nyu_labeled_") and int(name.split("_")[2]) - 1 in train:
        return "NYU (a training image)"
    return "NYU"


def _rows(models: dict, evals: dict) -> list[str]:
    """The per-frame rows and the other-camera means with their 95% intervals."""
    train = set().union(*(set(m[2]["dataset"].get("train_indices", [])) for m in models.values()))
    titles = list(evals)
    head = ["frame", "source"]
    for t in titles:
        head += [f"{t}: AbsRel raw", "AbsRel median-scaled", "δ1 median-scaled", "scale"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = evals[titles[0]]["frames"]
    for i, name in enumerate(names):
        cells = [name, _source(name, train)]
        for t in titles:
            e = evals[t]
            cells += [
                f"{e['per_image']['raw']['abs_rel'][i]:.3f}",
                f"{e['per_image']['median_scaled']['abs_rel'][i]:.3f}",
                f"{e['per_image']['median_scaled']['delta1'][i]:.3f}",
                f"{e['median_scale'][i]:.2f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    other = [i for i, n in enumerate(names) if _source(n, train) == "other camera"]
    cells = [f"**mean of the {len(other)} other-camera frames** [95% CI]", ""]
    for t in titles:
        e = evals[t]
        for proto, key in (("raw", "abs_rel"), ("median_scaled", "abs_rel"), ("median_scaled", "delta1")):
            v = np.asarray(e["per_image"][proto][key])[other]
            lo, hi = bootstrap_ci(v)
            cells.append(format_ci(float(v.mean()), lo, hi, signed=False))
        cells.append(f"{np.median(np.asarray(e['median_scale'])[other]):.2f} (median)")
    lines.append("| " + " | ".join(cells) + " |")
    return lines


def _text(models: dict, lines: list[str], a: argparse.Namespace, precision: str) -> str:
    desc = "; ".join(
        f"{t}: {m[2]['dataset']['name']} `{m[2]['dataset']['split']}` split, input {tuple(m[1].image_size)}, "
        f"{m[2]['epochs']} epochs, encoders {m[2]['pretrained']['used']}"
        for t, m in models.items()
    )
    text = [
        f"<!-- generated by tools/other_cameras.py from {Path(a.frames).name}; do not edit -->",
        "",
        "# Trained rows on RGB-D frames from other cameras",
        "",
        f"Models: {desc}. Precision {precision}, flip TTA. Each frame is predicted at the model's input "
        "(resized, as the report protocol does) and upsampled to its depth map's size; no Eigen crop; valid depth in "
        "(1e-3, 10] m. **Raw**: metres as predicted. **Median-scaled**: the prediction times "
        "median(measured) / median(predicted) for that frame, which removes the camera's scale and scores the "
        "shape of the depth map; *scale* is that factor (1 = NYU's scale transferred). With so few frames, the "
        "intervals are wide (and redwood_0–4 are five frames of one sequence): read the per-frame rows. The "
        "baseline's columns are the mean NYU training depth map, the same for every frame: a model that does not "
        "beat it median-scaled has not read the shape of the room from the image.",
        "",
        *lines,
        "",
        f"![input, measured depth and each model's median-scaled prediction]({Path(a.figure).name})"
        if Path(a.figure).parent == Path(a.out).parent
        else f"Figure: `{a.figure}`",
        "",
    ]
    return "\n".join(text)


def _figure(models: dict, frames: list, path: str, precision: str) -> None:
    """A few other-camera frames, centre-cropped to 4:3 and shown at 240×320, with each model's median-scaled
    prediction."""
    pick = [(n, r, d) for n, r, d in frames if n in FIGURE_FRAMES]
    rgb, gt, preds = [], [], {t: [] for t in models}
    for _name, rgb_path, depth_path in pick:
        im, d = read_rgb(rgb_path), read_depth_png(depth_path)
        rgb.append(_resize(_crop_43(im).astype(np.float32) / 255, (240, 320), "bilinear").clip(0, 1))
        g = _crop_43(d)
        gt.append(_resize(g, (240, 320), "nearest"))
        for t, (model, cfg, _) in models.items():
            p = predict_image(model, im, image_size=cfg.image_size, max_depth=cfg.max_depth, precision=precision)
            p = torch.nn.functional.interpolate(torch.from_numpy(p)[None, None], size=d.shape, mode="bilinear")[0, 0]
            p = _crop_43(p.numpy())
            valid = g > 0
            p = p * np.median(g[valid]) / max(float(np.median(p[valid])), 1e-6)  # median-scaled, as in the table
            preds[t].append(_resize(p, (240, 320), "bilinear"))
    fig = plots.prediction_grid(
        np.stack(rgb),
        np.stack(gt),
        {f"{t} (median-scaled)": np.stack(v) for t, v in preds.items()},
        title="Other cameras: " + ", ".join(n for n, _, _ in pick),
    )
    plots.save(fig, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", required=True)
    ap.add_argument("--run", action="append", default=[], help="a row folder (results.json + checkpoint)")
    ap.add_argument("--weights", action="append", default=[], help="shipped weights by name (e.g. nyu-regnet-unet)")
    ap.add_argument("--out", required=True, help="the Markdown table")
    ap.add_argument("--figure", required=True, help="the PNG")
    ap.add_argument("--precision", default="auto")
    a = ap.parse_args()
    if not a.run and not a.weights:
        ap.error("give at least one --run or --weights")
    precision = resolve_precision(a.precision, torch.device("cpu"))
    models = dict(_trained(run) for run in map(Path, a.run))
    for name in a.weights:
        model, cfg, res = _shipped(name)
        models[res["title"]] = (model, cfg, res)
    evals = _evaluate(models, a.frames, precision)
    write_text_atomic(Path(a.out), _text(models, _rows(models, evals), a, precision))
    _figure(models, list_frames(a.frames), a.figure, precision)
    print(f"wrote {a.out} and {a.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
