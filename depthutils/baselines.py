"""Image-blind baselines: what a 'model' scores that never looks at the image.

- ``mean_map``: the per-pixel mean depth of the training images (over their valid pixels), the same map for every
  test image. It knows the average room: floor near the bottom, far wall in the middle.
- ``median``: one constant, the median of every valid training depth pixel (2.53 m on NYU's official split).

Each is wrapped as a model (:class:`ImageBlindModel`) and evaluated by the engine's own ``evaluate`` under the
same protocols, on the same test images, as the trained rows. Flip TTA is off for them: mirroring an image-blind
map only averages it with its mirror image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import DepthData

__all__ = [
    "ImageBlindModel",
    "BASELINES",
    "mean_depth_map",
    "median_depth",
    "baseline_models",
    "evaluate_baselines",
    "baselines_for_run",
]

#: name → the row title that tables print.
BASELINES = {"mean_map": "Baseline: mean training depth map", "median": "Baseline: constant training median"}


class ImageBlindModel(nn.Module):
    """Predicts one fixed depth map (metres, H×W) for every input, resized bilinearly to the input's size and
    normalised by ``max_depth``: RGB N×3×h×w → N×1×h×w, like every model of the registry."""

    map: torch.Tensor  # a buffer (registered in __init__)

    def __init__(self, depth_map: np.ndarray, max_depth: float = 10.0):
        super().__init__()
        self.register_buffer("map", torch.as_tensor(np.asarray(depth_map, np.float32))[None, None] / max_depth)
        self._anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.map.to(x.device)
        if m.shape[-2:] != x.shape[-2:]:
            m = F.interpolate(m, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return m.expand(x.shape[0], 1, *x.shape[-2:]).float()


def mean_depth_map(depth: np.ndarray) -> np.ndarray:
    """Per-pixel mean over the images where that pixel is valid (> 0); pixels never valid get the global mean."""
    depth = np.asarray(depth, np.float64)
    valid = depth > 0
    if not valid.any():
        raise ValueError("no valid depth pixel in the training images; the baselines need some")
    cnt = valid.sum(0)
    s = np.where(valid, depth, 0).sum(0)
    out = np.where(cnt > 0, s / np.maximum(cnt, 1), depth[valid].mean())
    return out.astype(np.float32)


def median_depth(depth: np.ndarray) -> float:
    """The median of every valid (> 0) training depth pixel, metres."""
    d = np.asarray(depth)
    v = d[d > 0]
    if v.size == 0:
        raise ValueError("no valid depth pixel in the training images; the baselines need some")
    return float(np.median(v))


def baseline_models(train_depth: np.ndarray, max_depth: float = 10.0) -> dict[str, ImageBlindModel]:
    """The two baselines, fitted on the training images' depth (N×H×W metres)."""
    mean_map = mean_depth_map(train_depth)
    med = median_depth(train_depth)
    return {
        "mean_map": ImageBlindModel(mean_map, max_depth),
        "median": ImageBlindModel(np.full_like(mean_map, med), max_depth),
    }


def evaluate_baselines(
    data: DepthData, *, image_size: tuple[int, int], max_depth: float = 10.0, device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Both baselines under both protocols on ``data.test``, fitted on ``data.train`` (and ``data.val``: the whole
    training split). Returns {'rows': {name: results}, 'dataset': identity, ...} in the layout of a run's results."""
    from .engine import DeviceData
    from .evaluation import final_evaluation

    device = torch.device(device)
    fit_idx = np.concatenate([data.train, data.val])
    if len(fit_idx) == 0:
        raise ValueError("the baselines need the training images; load the data with its training split")
    models = baseline_models(data.depth[fit_idx], max_depth)
    test = DeviceData(data, data.test, device, gt=data.test_gt)
    rows = {}
    for name, model in models.items():
        res = final_evaluation(
            model.to(device),
            test,
            image_size=image_size,
            max_depth=max_depth,
            precision="fp32",
            loss=None,
            flip_tta=False,
            edges=True,
        )
        rows[name] = {"title": BASELINES[name], **res}
    rows["median"]["median_m"] = median_depth(data.depth[fit_idx])
    ident = {k: v for k, v in data.identity.items() if not k.endswith("_indices")}
    return {
        "rows": rows,
        "dataset": ident,
        "test_indices": data.identity["test_indices"],
        "image_size": list(image_size),
        "fitted_on": f"{len(fit_idx)} training-split images",
    }


def baselines_for_run(results: dict[str, Any], cache: str | Path, *, device: str = "cpu") -> dict[str, Any]:
    """The baselines for the data, split, test images and input size of a run's ``results``; computed once and
    cached in ``cache`` (recomputed when any of those differ)."""
    from ._io import write_json_atomic
    from .config import TrainConfig
    from .data.dataset import load_data

    cfg = TrainConfig.from_dict(results["config"])
    cache = Path(cache)
    key = {
        "path": results["dataset"]["path"],
        "split": cfg.split,
        "gt": results["dataset"].get("gt_path"),
        "test_indices": results["dataset"]["test_indices"],
        "image_size": list(cfg.image_size),
    }
    if cache.exists():
        got = json.loads(cache.read_text())
        if got.get("key") == key:
            return got
    data = load_data(TrainConfig.from_dict({**cfg.to_dict(), "limit": None}))
    out = {"key": key, **evaluate_baselines(data, image_size=cfg.image_size, max_depth=cfg.max_depth, device=device)}
    write_json_atomic(cache, out)
    return out
