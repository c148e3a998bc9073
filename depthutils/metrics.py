"""Depth metrics: the report's normalised L1/MSE, the standard NYU set in metres, and edge sharpness.

Every metric is computed per image and then averaged over images. Pixels count when the mask says valid and the
ground truth is finite and in (min_depth, max_depth]. Images with no such pixel are left out of the averages and
counted in ``n_skipped``, with a warning; if no image is left, every metric is NaN (never a silent 0).

Inputs are metres: pred, gt N×1×H×W, N×H×W or H×W; mask the same shape (bool) or None.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

__all__ = [
    "depth_metrics",
    "report_metrics",
    "edge_metrics",
    "bootstrap_ci",
    "bootstrap_diff_ci",
    "MetricAccumulator",
    "STANDARD_KEYS",
    "REPORT_KEYS",
    "EDGE_KEYS",
    "CI_KEYS",
    "EIGEN_CROP",
]

STANDARD_KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "delta1", "delta2", "delta3")
REPORT_KEYS = ("l1_global", "mse_global", "l1_per_image", "mse_per_image")
EDGE_KEYS = ("dbe_acc", "dbe_comp", "depth_ssim")
#: The metrics that get 95% bootstrap intervals over test images.
CI_KEYS = ("delta1", "abs_rel", "rmse", "l1_global")
#: Eigen et al.'s crop on the 640×480 frame (rows 45:471, cols 41:601) as fractions, so it scales to any size.
EIGEN_CROP = (45 / 480, 471 / 480, 41 / 640, 601 / 640)


def _as_n1hw(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4 or t.shape[1] != 1:
        raise ValueError(f"{name}: expected H×W, N×H×W or N×1×H×W, got {tuple(t.shape)}")
    return t


def _valid(pred, gt, mask, min_depth, max_depth, eigen_crop):
    pred, gt = _as_n1hw(pred, "pred").float(), _as_n1hw(gt, "gt").float()
    if pred.shape != gt.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} differ in shape")
    valid = torch.isfinite(gt) & (gt > min_depth) & (gt <= max_depth)
    if mask is not None:
        mask = _as_n1hw(mask, "mask").to(gt.device)
        if mask.shape != gt.shape:
            raise ValueError(f"mask {tuple(mask.shape)} does not match gt {tuple(gt.shape)}")
        valid &= mask.bool()
    if eigen_crop:
        h, w = gt.shape[-2:]
        top, bottom, left, right = EIGEN_CROP
        crop = torch.zeros_like(valid)
        crop[..., round(top * h) : round(bottom * h), round(left * w) : round(right * w)] = True
        valid &= crop
    return pred, gt, valid


class MetricAccumulator:
    """Collects per-image metrics on the tensors' device; ``compute()`` syncs once at the end.

    ``update(pred_m, gt_m, mask)`` takes metres. ``compute()`` gives the means over images; ``per_image()`` the
    values of every image (NaN where an image had no valid pixel), for bootstrap intervals and paired
    comparisons. An image whose prediction is not finite on a valid pixel gets NaN for every metric, and so does
    the mean: a broken model never shows up as a number. ``edges=True`` adds the edge-sharpness metrics
    (CPU-side distance transforms, evaluation only).
    """

    def __init__(
        self,
        *,
        max_depth: float = 10.0,
        min_depth: float = 1e-3,
        eigen_crop: bool = False,
        edges: bool = False,
        edge_tolerance_px: float = 10.0,
    ):
        self.max_depth, self.min_depth, self.eigen_crop = max_depth, min_depth, eigen_crop
        self.edges, self.edge_tol = edges, edge_tolerance_px
        self.values: dict[str, list[torch.Tensor]] = {k: [] for k in STANDARD_KEYS + REPORT_KEYS}
        self.ok: list[torch.Tensor] = []
        self.edge_vals: dict[str, list[float]] = {k: [] for k in EDGE_KEYS}

    @torch.no_grad()
    def update(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        pred, gt, valid = _valid(pred, gt, mask, self.min_depth, self.max_depth, self.eigen_crop)
        cnt = valid.float().sum((1, 2, 3))
        c = cnt.clamp_min(1)
        finite = torch.where(valid, torch.isfinite(pred), torch.ones_like(valid)).all(dim=(1, 2, 3))
        nan = torch.full_like(cnt, math.nan)

        def mean(x: torch.Tensor) -> torch.Tensor:
            m = (torch.where(valid, x, torch.zeros_like(x))).sum((1, 2, 3)) / c
            return torch.where(finite, m, nan)  # a non-finite prediction is NaN, never δ = 0

        def put(key: str, v: torch.Tensor) -> None:
            self.values[key].append(v)

        p = pred.clamp(self.min_depth, self.max_depth)
        g = torch.where(valid, gt, torch.ones_like(gt))
        p = torch.where(torch.isfinite(p), p, torch.ones_like(p))  # kept out of the sums; flagged by `finite`
        # standard set, metres
        ratio = torch.maximum(p / g, g / p)
        d_log = torch.log(p) - torch.log(g)
        put("abs_rel", mean((p - g).abs() / g))
        put("sq_rel", mean((p - g) ** 2 / g))
        put("rmse", mean((p - g) ** 2).sqrt())
        put("rmse_log", mean(d_log**2).sqrt())
        put("log10", mean((torch.log10(p) - torch.log10(g)).abs()))
        put("silog", (mean(d_log**2) - mean(d_log) ** 2).clamp_min(0).sqrt() * 100)
        for k in (1, 2, 3):
            put(f"delta{k}", mean((ratio < 1.25**k).float()))
        # the report's metrics on normalised depth: global (÷ max_depth) and per image (gt min-max)
        pr = torch.where(torch.isfinite(pred), pred, torch.zeros_like(pred))
        pn, gn = (pr / self.max_depth).clamp(0, 1), (g / self.max_depth).clamp(0, 1)
        put("l1_global", mean((pn - gn).abs()))
        put("mse_global", mean((pn - gn) ** 2))
        big = torch.finfo(g.dtype).max
        gmin = torch.where(valid, g, torch.full_like(g, big)).amin((1, 2, 3), keepdim=True)
        gmax = torch.where(valid, g, torch.full_like(g, -big)).amax((1, 2, 3), keepdim=True)
        rng = (gmax - gmin).clamp_min(1e-6)
        pi, gi = (pr - gmin) / rng, (g - gmin) / rng
        put("l1_per_image", mean((pi - gi).abs()))
        put("mse_per_image", mean((pi - gi) ** 2))
        self.ok.append(cnt > 0)
        if self.edges:
            e = edge_metrics(p, gt, valid, max_depth=self.max_depth, tolerance_px=self.edge_tol)
            for key in EDGE_KEYS:
                self.edge_vals[key].extend(e[key])

    def per_image(self) -> dict[str, np.ndarray]:
        """Every metric per image (float64, NaN where the image had no valid ground-truth pixel)."""
        if not self.ok:
            return {k: np.zeros(0) for k in self.values}
        ok = torch.cat(self.ok).cpu().numpy()
        out = {}
        for k, v in self.values.items():
            a = torch.cat(v).double().cpu().numpy()
            a[~ok] = math.nan
            out[k] = a
        return out

    def compute(self) -> dict[str, float]:
        ok = torch.cat(self.ok).cpu().numpy() if self.ok else np.zeros(0, bool)
        n_valid, n_images = int(ok.sum()), len(ok)
        n_skipped = n_images - n_valid
        if n_skipped:
            warnings.warn(
                f"{n_skipped} of {n_images} images have no valid ground-truth pixel and were left out of the metrics",
                RuntimeWarning,
                stacklevel=2,
            )
        if n_valid == 0:
            warnings.warn("no valid ground-truth pixel in any image: all metrics are NaN", RuntimeWarning, stacklevel=2)
        out: dict[str, float] = {}
        for k, v in self.per_image().items():
            out[k] = float(v[ok].mean()) if n_valid else math.nan  # NaN when any scored image is NaN
        if self.edges:
            for k in EDGE_KEYS:
                vals = [v for v in self.edge_vals[k] if not math.isnan(v)]
                out[k] = float(np.mean(vals)) if vals else math.nan
        out["n_images"] = n_valid
        out["n_skipped"] = n_skipped
        return out

    def intervals(self, keys: tuple[str, ...] = CI_KEYS, **kw) -> dict[str, list[float]]:
        """95% bootstrap intervals of the means of ``keys`` over the scored images: key → [low, high]."""
        per = self.per_image()
        ok = torch.cat(self.ok).cpu().numpy() if self.ok else np.zeros(0, bool)
        return {k: list(bootstrap_ci(per[k][ok], **kw)) for k in keys}


def _resampled_means(v: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """``n_boot`` means of ``v`` resampled with replacement (the bootstrap's draws)."""
    return v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(1)


def bootstrap_ci(values: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-image ``values`` (the scored images only; any NaN makes
    the interval NaN). Resamples images with replacement, ``n_boot`` times, from a fixed seed."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0 or not np.isfinite(v).all():
        return (math.nan, math.nan)
    means = _resampled_means(v, np.random.default_rng(seed), n_boot)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def bootstrap_diff_ci(
    a: np.ndarray, b: np.ndarray, *, paired: bool, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """The difference of means ``mean(b) − mean(a)`` and its percentile bootstrap interval: (diff, lo, hi).

    ``paired``: a and b are the same test images scored by two models (equal length, same order); the per-image
    differences are resampled, so image difficulty cancels and the interval is much narrower than either run's.
    Unpaired (different test images, e.g. two splits): a and b are resampled independently."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if paired and a.shape != b.shape:
        raise ValueError(f"a paired difference needs the same test images: {a.shape[0]} against {b.shape[0]} values")
    diff = float(b.mean() - a.mean())
    if paired:
        lo, hi = bootstrap_ci(b - a, n_boot=n_boot, level=level, seed=seed)
        return diff, lo, hi
    if not (len(a) and len(b) and np.isfinite(a).all() and np.isfinite(b).all()):
        return diff, math.nan, math.nan
    rng = np.random.default_rng(seed)
    ma, mb = _resampled_means(a, rng, n_boot), _resampled_means(b, rng, n_boot)
    q = (1 - level) / 2
    return diff, float(np.quantile(mb - ma, q)), float(np.quantile(mb - ma, 1 - q))


def depth_metrics(
    pred, gt, mask=None, *, eigen_crop: bool = False, min_depth: float = 1e-3, max_depth: float = 10.0
) -> dict[str, float]:
    """The standard NYU metrics in metres (abs_rel, sq_rel, rmse, rmse_log, log10, silog ×100, delta1..3).

    Prediction clipped to [min_depth, max_depth]; averaged per image.
    """
    acc = MetricAccumulator(max_depth=max_depth, min_depth=min_depth, eigen_crop=eigen_crop)
    acc.update(torch.as_tensor(pred), torch.as_tensor(gt), None if mask is None else torch.as_tensor(mask))
    out = acc.compute()
    return {k: out[k] for k in STANDARD_KEYS}


def report_metrics(pred, gt, mask=None, *, max_depth: float = 10.0) -> dict[str, float]:
    """The report's L1 and MSE on depth normalised to [0, 1], in both readings.

    ``*_global``: both maps ÷ max_depth (10 m), clipped to [0, 1].
    ``*_per_image``: both maps mapped by the ground truth's own min-max over its valid pixels, (d − min)/(max − min).
    """
    acc = MetricAccumulator(max_depth=max_depth)
    acc.update(torch.as_tensor(pred), torch.as_tensor(gt), None if mask is None else torch.as_tensor(mask))
    out = acc.compute()
    return {k: out[k] for k in REPORT_KEYS}


def _canny(x: torch.Tensor) -> torch.Tensor:
    """Canny edges of N×1×H×W maps normalised to [0, 1] per image (iBims-1 thresholds 0.1 / 0.2)."""
    from kornia.filters import canny

    lo = x.amin((1, 2, 3), keepdim=True)
    hi = x.amax((1, 2, 3), keepdim=True)
    xn = (x - lo) / (hi - lo).clamp_min(1e-6)
    # kornia's thresholds (weak 0.5, strong 1), then its hysteresis done as connected components (_hysteresis)
    weak_strong = canny(xn, low_threshold=0.1, high_threshold=0.2, kernel_size=5, sigma=(1.0, 1.0), hysteresis=False)
    return _hysteresis(weak_strong[1])


def _hysteresis(edges: torch.Tensor) -> torch.Tensor:
    """Canny's hysteresis on N×1×H×W maps of 0 / 0.5 (weak) / 1 (strong): a pixel is an edge when a chain of weak
    or strong 8-neighbours links it to a strong one. The same edges as kornia's iterated 3×3 rounds until nothing
    changes (tests/test_metrics.py), computed as 8-connected components in one pass: kornia's loop took hundreds of
    rounds on a 192×256 depth map, nearly all of the evaluation's time on a CPU."""
    from scipy import ndimage

    e = edges.detach().float().cpu().numpy()
    out = np.zeros(e.shape, bool)
    for i in range(e.shape[0]):
        labels, n = ndimage.label(e[i, 0] > 0, structure=np.ones((3, 3), bool))
        keep = np.zeros(n + 1, bool)
        keep[np.unique(labels[e[i, 0] == 1])] = True
        keep[0] = False
        out[i, 0] = keep[labels]
    return torch.from_numpy(out).to(edges.device)


def edge_metrics(
    pred, gt, valid=None, *, max_depth: float = 10.0, tolerance_px: float = 10.0
) -> dict[str, list[float]]:
    """Per-image depth-boundary errors (iBims-1) and depth SSIM.

    Edges of both maps come from Canny on the per-image normalised depth; ``dbe_acc`` is the mean distance in
    pixels from each predicted edge pixel to the nearest ground-truth edge (truncated at ``tolerance_px``),
    ``dbe_comp`` from each ground-truth edge to the nearest predicted edge. Lower is sharper. Images with no
    ground-truth edge give NaN (left out of the mean). ``depth_ssim`` is the SSIM of the two maps ÷ max_depth over
    valid pixels (higher is better).
    """
    from scipy.ndimage import distance_transform_edt

    from .losses import masked_ssim_map

    pred, gt = _as_n1hw(pred, "pred").float(), _as_n1hw(gt, "gt").float()
    valid = torch.ones_like(gt, dtype=torch.bool) if valid is None else _as_n1hw(valid, "valid").bool()
    g_fill = torch.where(valid, gt, torch.zeros_like(gt))
    e_pred = _canny(pred).cpu().numpy()[:, 0]
    e_gt = (_canny(g_fill) & valid).cpu().numpy()[:, 0]
    ssim_map = masked_ssim_map((pred / max_depth).clamp(0, 1), (g_fill / max_depth).clamp(0, 1), valid)
    vf = valid.float()
    ssim = ((ssim_map * vf).sum((1, 2, 3)) / vf.sum((1, 2, 3)).clamp_min(1)).cpu().tolist()
    acc, comp = [], []
    for ep, eg in zip(e_pred, e_gt):
        if not eg.any():
            acc.append(math.nan)
            comp.append(math.nan)
            continue
        d_to_gt = np.minimum(distance_transform_edt(~eg), tolerance_px)
        acc.append(float(d_to_gt[ep].mean()) if ep.any() else float(tolerance_px))
        d_to_pred = (
            np.minimum(distance_transform_edt(~ep), tolerance_px) if ep.any() else np.full(eg.shape, tolerance_px)
        )
        comp.append(float(d_to_pred[eg].mean()))
    return {"dbe_acc": acc, "dbe_comp": comp, "depth_ssim": ssim}
