"""Masked depth losses. Every loss is ``loss(pred, target, mask=None) -> scalar``.

Shapes: pred, target N×1×H×W (normalised depth); mask N×1×H×W bool (True = valid) or None (all valid).
No loss synchronises with the GPU: empty masks give a zero loss that keeps the graph, not a Python branch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch

__all__ = [
    "l1_loss",
    "berhu_loss",
    "ssim_l1_loss",
    "gradient_loss",
    "silog_loss",
    "get_loss",
    "LOSSES",
    "masked_ssim_map",
]

LossFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def _mask(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if mask is None:
        return torch.ones_like(target, dtype=torch.bool)
    if mask.shape != target.shape:
        raise ValueError(f"mask {tuple(mask.shape)} does not match target {tuple(target.shape)}")
    return mask.bool()


def _mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    m = m.to(x.dtype)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |pred − target| over valid pixels."""
    m = _mask(pred, target, mask)
    return _mean((pred - target).abs(), m)


def berhu_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Reverse Huber (Laina et al. 2016): |r| for |r| ≤ c, (r² + c²) / 2c above, c = 0.2 · max|r| over the
    valid pixels of the batch (treated as a constant)."""
    m = _mask(pred, target, mask)
    r = (pred - target).abs()
    c = (0.2 * torch.where(m, r, torch.zeros_like(r)).amax()).detach().clamp_min(1e-6)
    return _mean(torch.where(r <= c, r, (r * r + c * c) / (2 * c)), m)


def masked_ssim_map(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, window: int = 11) -> torch.Tensor:
    """kornia's SSIM map (Gaussian window, σ = 1.5, data range 1) of the masked maps; N×1×H×W."""
    from kornia.metrics import ssim

    mf = mask.to(pred.dtype)
    return ssim(pred * mf, target * mf, window_size=window, max_val=1.0)


def ssim_l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The report's custom loss: SSIM term + L1 with equal weight, ``(1 − SSIM) / 2 + L1``.

    Both terms live in [0, 1] for normalised depth. Invalid pixels are zeroed in both maps before SSIM and left out
    of both means.
    """
    m = _mask(pred, target, mask)
    ssim_term = (1 - _mean(masked_ssim_map(pred, target, m), m)) / 2
    return ssim_term + l1_loss(pred, target, m)


def gradient_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |∂pred − ∂target| of horizontal and vertical finite differences, where both pixels are valid."""
    m = _mask(pred, target, mask)
    diff = pred - target
    mx = m[..., :, 1:] & m[..., :, :-1]
    my = m[..., 1:, :] & m[..., :-1, :]
    gx = (diff[..., :, 1:] - diff[..., :, :-1]).abs()
    gy = (diff[..., 1:, :] - diff[..., :-1, :]).abs()
    return _mean(gx, mx) + _mean(gy, my)


def silog_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, lam: float = 0.85, eps: float = 1e-3
) -> torch.Tensor:
    """Scale-invariant log loss (Eigen et al. 2014, BTS variant): sqrt(mean d² − λ·(mean d)²), d = log p − log t.

    Depths are clamped to ``eps`` before the log; pixels are valid where ``mask`` and target > 0.
    """
    m = _mask(pred, target, mask) & (target > 0)
    d = torch.log(pred.clamp_min(eps)) - torch.log(target.clamp_min(eps))
    mean_d = _mean(d, m)
    return (_mean(d * d, m) - lam * mean_d * mean_d).clamp_min(1e-8).sqrt()


LOSSES: dict[str, LossFn] = {
    "l1": l1_loss,
    "berhu": berhu_loss,
    "ssim_l1": ssim_l1_loss,
    "gradient": gradient_loss,
    "silog": silog_loss,
}


def get_loss(spec: str) -> LossFn:
    """A loss by name, or a weighted sum such as ``"silog+0.5*gradient"``."""
    terms: list[tuple[float, LossFn]] = []
    for part in spec.replace(" ", "").split("+"):
        w, _, name = part.rpartition("*")
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r} in {spec!r}; valid: {', '.join(LOSSES)} (combine as 'a+0.5*b')")
        try:
            weight = float(w) if w else 1.0
        except ValueError:
            raise ValueError(f"loss weight {w!r} in {spec!r} is not a number (write e.g. 'l1+0.5*gradient')") from None
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"loss weight {w!r} in {spec!r} must be a positive finite number")
        terms.append((weight, LOSSES[name]))
    if len(terms) == 1 and terms[0][0] == 1.0:
        return terms[0][1]

    def combined(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return cast(torch.Tensor, sum(w * fn(pred, target, mask) for w, fn in terms))  # ≥ 1 term: never the start 0

    combined.__name__ = spec
    return combined
