"""The figures that the notebooks and the report share. Every function returns a matplotlib Figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "close",
    "depth_beside_input",
    "robust_limits",
    "point_cloud",
    "learning_curves",
    "curves_overview",
    "depth_histogram",
    "sample_pairs",
    "augmentation_examples",
    "prediction_grid",
    "save",
]


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | Path) -> Path:
    """Save atomically as PNG (no half-written figure under the final name)."""
    from ._io import atomic_path

    path = Path(path)
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return path


def close(fig) -> None:
    """Free a figure that is not going to be shown (scripts; notebooks display theirs)."""
    _plt().close(fig)


def learning_curves(history: str | Path | list[dict], title: str = ""):
    """Loss per epoch (train every epoch, test on evaluated epochs) and the evaluated epochs' validation and test
    L1 (÷ 10 m) and test δ1, from history.csv or its rows."""
    from .run_folder import read_history

    plt = _plt()
    rows: list[dict[str, Any]] = read_history(history) if not isinstance(history, list) else history

    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot(*series("train_loss"), "-", label="train loss (augmented)")
    axes[0].plot(*series("test_loss"), "s-", label="test loss")
    axes[0].set_xlabel("epoch"), axes[0].legend(), axes[0].set_title("loss")
    axes[1].plot(*series("val_l1"), "o-", label="validation L1 (÷10 m)")
    axes[1].plot(*series("test_l1"), "s-", label="test L1 (÷10 m)")
    ax2 = axes[1].twinx()
    ax2.plot(*series("test_delta1"), "^:", color="tab:green", label="test δ1 (right)")
    ax2.set_ylim(0, 1)
    axes[1].set_xlabel("epoch"), axes[1].set_title("evaluated epochs (model resolution)")
    h1, l1 = axes[1].get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    axes[1].legend(h1 + h2, l1 + l2, fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves_overview(histories: dict[str, list[dict]], baseline: dict[str, float] | None = None, title: str = ""):
    """Every row's evaluated epochs in one figure: validation L1 (÷ 10 m) and test δ1, both at the model's
    resolution (the report protocol), one line per row. ``histories``: row title → history rows (read_history).
    ``baseline``: the mean depth map's ``l1_global`` and ``delta1`` under the same protocol on the test images,
    drawn as dashed lines (its validation L1 is not computed; its test L1 is the nearest reference). Each panel's
    range covers the baseline and 95% of the points: a row's first, untrained epochs may lie outside it."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    panels = (("val_l1", "validation L1 (÷10 m) ↓", "l1_global"), ("test_delta1", "test δ1 ↑", "delta1"))
    for ax, (key, label, base_key) in zip(axes, panels):
        ys = []
        for name, rows in histories.items():
            pts = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), "o-", markersize=3, label=name)
                ys += [y for _, y in pts]
        base = baseline.get(base_key) if baseline else None
        if base is not None:
            what = "its test L1" if key.startswith("val") else "same protocol"
            ax.axhline(base, color="k", ls="--", lw=1, label=f"mean depth map ({what})")
            ax.annotate(
                f"mean depth map ({what})",
                (1, base),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                fontsize=7,
            )
        if ys:  # errors: drop the worst 5% (early epochs) from the range; δ1: the lowest 5%
            lo, hi = np.quantile(ys, [0.0, 0.95] if key.startswith("val") else [0.05, 1.0])
            if base is not None:
                lo, hi = min(lo, base), max(hi, base)
            pad = 0.05 * (hi - lo or 1)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel("epoch"), ax.set_title(label + " (model resolution)")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def depth_histogram(depth: np.ndarray, title: str = ""):
    """Histogram of valid depths (metres) and the valid-pixel ratio per image."""
    plt = _plt()
    valid = depth > 0
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].hist(depth[valid].ravel(), bins=60, color="tab:blue")
    axes[0].set_xlabel("depth [m]"), axes[0].set_ylabel("pixels"), axes[0].set_title("valid depth")
    axes[1].hist(valid.reshape(len(depth), -1).mean(1), bins=30, color="tab:green")
    axes[1].set_xlabel("valid-pixel ratio"), axes[1].set_ylabel("images"), axes[1].set_title("validity per image")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sample_pairs(rgb: np.ndarray, depth: np.ndarray, idx: Sequence[int], max_depth: float = 10.0):
    """RGB above depth for the given indices (uint8 N×H×W×3, metres N×H×W)."""
    plt = _plt()
    fig, axes = plt.subplots(2, len(idx), figsize=(2.6 * len(idx), 4.4), squeeze=False)
    for j, i in enumerate(idx):
        axes[0, j].imshow(rgb[i]), axes[0, j].set_title(f"#{i}")
        im = axes[1, j].imshow(depth[i], cmap="plasma_r", vmin=0, vmax=max_depth)
    for a in axes.ravel():
        a.set_axis_off()
    fig.colorbar(im, ax=axes[1].tolist(), fraction=0.02, label="m")
    return fig


def augmentation_examples(rgb_u8, depth, out_size=(128, 128), n: int = 4, seed: int = 0):
    """One image augmented ``n`` times: RGB and depth rows share each draw's geometry."""
    import torch

    from .data.transforms import augment_batch

    plt = _plt()
    r = torch.from_numpy(np.ascontiguousarray(rgb_u8.transpose(2, 0, 1)))[None].repeat(n, 1, 1, 1)
    d = torch.from_numpy(depth)[None, None].repeat(n, 1, 1, 1)
    ar, ad, am = augment_batch(r, d, out_size, generator=torch.Generator().manual_seed(seed))
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 4.8))
    for j in range(n):
        axes[0, j].imshow(ar[j].permute(1, 2, 0).numpy())
        axes[1, j].imshow(
            np.where(am[j, 0].numpy(), ad[j, 0].numpy(), np.nan), cmap="plasma_r", vmin=0, vmax=float(depth.max())
        )
        axes[0, j].set_axis_off(), axes[1, j].set_axis_off()
    axes[1, 0].set_title("depth (white = invalid)", fontsize=8, loc="left")
    return fig


def prediction_grid(rgb: np.ndarray, gt: np.ndarray, preds: dict[str, np.ndarray], title: str = ""):
    """The report's Figure 3: one row per test image: input, ground truth, each model's prediction.

    rgb N×H×W×3 (uint8 or [0, 1]); gt and every pred N×H×W metres, all at the same resolution. One colour scale
    per image row (that row's ground-truth range), with its colour bar in metres, so that the models are
    compared on the same scale; invalid ground truth is white.
    """
    import textwrap

    plt = _plt()
    cols = ["input", "ground truth", *preds]
    n = len(rgb)
    h, w = gt.shape[1:3]
    fig, axes = plt.subplots(
        n,
        len(cols) + 1,
        figsize=(1.9 * len(cols) * w / h * 0.8 + 0.5, 1.6 * n + 0.6),
        squeeze=False,
        gridspec_kw={"width_ratios": [1] * len(cols) + [0.06]},
    )
    for i in range(n):
        valid = gt[i] > 0
        vmin, vmax = (float(gt[i][valid].min()), float(gt[i][valid].max())) if valid.any() else (0.0, 10.0)
        axes[i, 0].imshow(rgb[i])
        im = axes[i, 1].imshow(np.where(valid, gt[i], np.nan), cmap="plasma_r", vmin=vmin, vmax=vmax)
        for j, p in enumerate(preds.values()):
            axes[i, 2 + j].imshow(p[i], cmap="plasma_r", vmin=vmin, vmax=vmax)
        fig.colorbar(im, cax=axes[i, -1], label="m")
    for j, c in enumerate(cols):
        axes[0, j].set_title("\n".join(textwrap.wrap(c, 18)), fontsize=7)
    for a in axes[:, :-1].ravel():
        a.set_xticks([]), a.set_yticks([])
    fig.suptitle(title, fontsize=9)
    return fig


def robust_limits(depth: np.ndarray, q: tuple[float, float] = (2, 98)) -> tuple[float, float]:
    """Colour limits that a few outliers cannot stretch: the 2nd and 98th percentiles of the valid (> 0, finite)
    depth, at least 1 cm apart."""
    valid = depth[np.isfinite(depth) & (depth > 0)]
    if not valid.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(valid, q))
    return lo, max(hi, lo + 0.01)


def depth_beside_input(rgb: np.ndarray, depth: np.ndarray, title: str = ""):
    """A photo (uint8 H×W×3) beside its predicted depth (H×W metres), with a colour bar in metres."""
    plt = _plt()
    h, w = depth.shape
    fig, axes = plt.subplots(1, 2, figsize=(10, 5 * h / w + 0.5), dpi=100)
    axes[0].imshow(rgb)
    axes[0].set_title("input", fontsize=9)
    lo, hi = robust_limits(depth)
    im = axes[1].imshow(depth, cmap="plasma_r", vmin=lo, vmax=hi)
    axes[1].set_title("predicted depth", fontsize=9)
    for a in axes:
        a.set_axis_off()
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.02, label="depth [m]")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def point_cloud(points: np.ndarray, colors: np.ndarray, *, max_points: int = 20000, title: str = ""):
    """A 3D scatter of back-projected points (N×3, camera frame: x right, y down, z forward) in their colours
    (N×3 uint8), seen from above and behind the camera; subsampled to ``max_points``."""
    plt = _plt()
    keep = np.isfinite(points).all(1) & (points[:, 2] > 0)
    points, colors = points[keep], colors[keep]
    if len(points) > max_points:
        idx = np.random.default_rng(0).choice(len(points), max_points, replace=False)
        points, colors = points[idx], colors[idx]
    fig = plt.figure(figsize=(6, 5))
    ax = fig.add_subplot(projection="3d")
    # plot as (x, z, -y): the floor at the bottom, depth going into the picture
    ax.scatter(points[:, 0], points[:, 2], -points[:, 1], c=colors / 255.0, s=1, depthshade=False)
    ax.set_xlabel("x [m]"), ax.set_ylabel("depth z [m]"), ax.set_zlabel("up [m]")
    ax.view_init(elev=20, azim=-70)
    if title:
        ax.set_title(title, fontsize=9)
    return fig
