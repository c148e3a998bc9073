"""Scoring a model on RGB-D frames from other cameras: a folder with one frame per subfolder.

Layout: ``FOLDER/NAME/rgb.png`` (or .jpg) + ``FOLDER/NAME/depth.png`` (uint16 millimetres, 0 = no measurement),
any size, as in ``../shared/data/rgbd_samples`` (Redwood, TUM, SUN RGB-D, Kinect v2). Each frame is predicted at
the model's input size and upsampled to its depth map's size. Metrics are reported twice:

- ``raw``: metres as predicted. Other cameras have other focal lengths and fields of view, so an absolute scale
  learnt on NYU need not transfer;
- ``median_scaled``: the prediction multiplied by median(ground truth) / median(prediction) per frame, which
  removes that scale and scores the shape of the depth map alone.

No Eigen crop (it belongs to NYU's frame); valid depth in (1e-3, max_depth].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import DataError, read_depth_png, read_rgb
from .data.folder import RGB_SUFFIXES
from .metrics import MetricAccumulator

__all__ = ["list_frames", "is_frames_folder", "evaluate_frames"]


def list_frames(folder: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, rgb path, depth path) of every subfolder holding an rgb image and depth.png, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"frames folder not found: {folder}")
    out = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        rgb = next((sub / f"rgb{s}" for s in RGB_SUFFIXES if (sub / f"rgb{s}").exists()), None)
        if rgb is not None and (sub / "depth.png").exists():
            out.append((sub.name, rgb, sub / "depth.png"))
    if not out:
        raise DataError(f"{folder} holds no NAME/rgb.png + NAME/depth.png frames (uint16 depth in millimetres).")
    return out


def is_frames_folder(folder: str | Path) -> bool:
    folder = Path(folder)
    return (
        folder.is_dir()
        and not (folder / "rgb").is_dir()
        and any((p / "depth.png").exists() for p in folder.iterdir() if p.is_dir())
    )


@torch.no_grad()
def evaluate_frames(
    model: torch.nn.Module,
    folder: str | Path,
    *,
    image_size: tuple[int, int],
    max_depth: float = 10.0,
    precision: str = "fp32",
    flip_tta: bool = True,
) -> dict[str, Any]:
    """Raw and median-scaled metrics over the frames of ``folder``, with per-frame values."""
    from .predict import predict_image

    accs = {"raw": MetricAccumulator(max_depth=max_depth), "median_scaled": MetricAccumulator(max_depth=max_depth)}
    names, scales = [], []
    for name, rgb_path, depth_path in list_frames(folder):
        rgb, gt = read_rgb(rgb_path), read_depth_png(depth_path)
        pred = predict_image(
            model, rgb, image_size=image_size, max_depth=max_depth, flip_tta=flip_tta, precision=precision
        )
        if pred.shape != gt.shape:  # RGB and depth of another size (e.g. Kinect v2): score at the depth's size
            pred = torch.nn.functional.interpolate(
                torch.from_numpy(pred)[None, None], size=gt.shape, mode="bilinear", align_corners=False
            )[0, 0].numpy()
        valid = (gt > 1e-3) & (gt <= max_depth)
        s = float(np.median(gt[valid]) / max(np.median(pred[valid]), 1e-6)) if valid.any() else float("nan")
        accs["raw"].update(torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(gt > 0))
        accs["median_scaled"].update(torch.from_numpy(pred * s), torch.from_numpy(gt), torch.from_numpy(gt > 0))
        names.append(name)
        scales.append(s)
    protocols = {}
    for k, acc in accs.items():
        protocols[k] = {
            **acc.compute(),
            "ci": acc.intervals(),
            "protocol": {
                "name": f"other cameras, {k.replace('_', '-')}",
                "eigen_crop": False,
                "flip_tta": flip_tta,
                "gt_resolution_hw": "each frame's own",
                "model_input_hw": list(image_size),
                "precision": precision,
                "depth_range_m": [1e-3, max_depth],
            },
        }
    per = {
        k: {m: v.tolist() for m, v in acc.per_image().items() if m in ("delta1", "abs_rel", "rmse")}
        for k, acc in accs.items()
    }
    return {
        "protocols": protocols,
        "per_image": per,
        "frames": names,
        "median_scale": scales,
        "dataset": {
            "kind": "real",
            "name": f"RGB-D frames ({Path(folder).name})",
            "path": str(folder),
            "n_test": len(names),
        },
    }
