"""The report's preprocessing as batched torch ops that run wherever the tensors live (CPU or GPU).

Training (one random draw per sample, the same geometry for RGB and depth):
  rotation r ∈ [−5°, 5°] about the crop centre, a random square crop whose side is the frame's short side
  (480×480 of 640×480, scaled at other resolutions), horizontal flip with p = 0.5, brightness × c ∈ [0.8, 1.2]
  (RGB only), then resampling to ``out_size`` (128×128 by default).
Test: resize of the full frame only.

Depth is never interpolated: it is resampled with nearest neighbour, so a valid pixel always carries a real
measurement and invalid pixels (0) and the area rotated in from outside the frame stay invalid in the mask.
RGB is first downscaled with antialiasing close to the output scale, then bilinearly resampled.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["augment_batch", "resize_batch", "to_float_rgb", "cut_depth", "AugmentParams"]


class AugmentParams:
    """Ranges of the report's augmentation; change them here, not in the engine."""

    rotation_deg: float = 5.0
    brightness: tuple[float, float] = (0.8, 1.2)
    flip_p: float = 0.5
    # the 'color' mode adds BTS's photometric jitter on top of the report's augmentation
    gamma: tuple[float, float] = (0.9, 1.1)
    channel_scale: tuple[float, float] = (0.9, 1.1)


#: Augmentation modes: the report's; the report's + gamma and per-channel colour jitter; none (a centred crop of
#: the output's aspect ratio, for ablations and for comparing runs step by step).
AUGMENT_MODES = ("report", "color", "none")


def to_float_rgb(rgb_u8: torch.Tensor) -> torch.Tensor:
    """uint8 N×3×H×W → float N×3×H×W in [0, 1] (float32; autocast decides the compute dtype later)."""
    return rgb_u8.float().div_(255.0)


def _prescale(rgb: torch.Tensor, depth: torch.Tensor, hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Antialiased RGB / nearest depth downscale to about ``hw`` so that later bilinear sampling does not alias."""
    if rgb.shape[-2] > hw[0] * 1.5:
        rgb = F.interpolate(rgb, size=hw, mode="bilinear", antialias=True, align_corners=False)
        depth = F.interpolate(depth, size=hw, mode="nearest")
    return rgb, depth


def resize_batch(
    rgb_u8: torch.Tensor, depth: torch.Tensor, out_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Test-time preprocessing: resize only.

    rgb_u8: N×3×H×W uint8; depth: N×1×H×W metres (0 = invalid).
    Returns rgb N×3×h×w in [0, 1], depth N×1×h×w metres, mask N×1×h×w bool.
    """
    rgb = F.interpolate(to_float_rgb(rgb_u8), size=out_size, mode="bilinear", antialias=True, align_corners=False)
    d = F.interpolate(depth, size=out_size, mode="nearest")
    return rgb.clamp_(0, 1), d, d > 0


def augment_batch(
    rgb_u8: torch.Tensor,
    depth: torch.Tensor,
    out_size: tuple[int, int],
    *,
    generator: torch.Generator | None = None,
    params: type[AugmentParams] | AugmentParams = AugmentParams,
    scale: tuple[float, float] = (1.0, 1.0),
    mode: str = "report",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training-time augmentation of a batch. Shapes as in :func:`resize_batch`.

    The crop has the aspect ratio of ``out_size``: a square output takes the report's square crop of the short
    side (480×480 of 640×480); a 4:3 output such as 96×128 takes the whole 4:3 frame, so no image is ever
    stretched. ``scale`` = (lo, hi) < 1 draws a crop scale s per sample (the crop is s × that largest crop, a zoom
    of 1/s) and multiplies depth by s, so that the zoomed image and its depth stay consistent with the camera's
    focal length (objects that look 1/s times larger are s times as far). ``mode`` is one of AUGMENT_MODES.
    """
    if mode not in AUGMENT_MODES:
        raise ValueError(f"augmentation mode must be one of {', '.join(AUGMENT_MODES)}, got {mode!r}")
    n, _, h, w = rgb_u8.shape
    dev = rgb_u8.device
    out_h, out_w = out_size

    def u(lo: float, hi: float) -> torch.Tensor:  # one uniform draw per sample, on the batch's device
        return torch.rand(n, device=dev, generator=generator) * (hi - lo) + lo

    # the largest crop of the output's aspect ratio inside the frame (480×480 of 640×480 for a square output)
    aspect = out_w / out_h
    ch, cw = (h, h * aspect) if w / h >= aspect else (w / aspect, w)
    if mode == "none":  # no random draw at all: a centred crop, no rotation, flip or brightness change
        one = torch.ones(n, device=dev)
        theta_r, s, cx, cy, flip, bright = 0 * one, one * scale[1], one * w / 2, one * h / 2, one, one
    else:
        theta_r = u(-params.rotation_deg, params.rotation_deg) * (math.pi / 180)
        s = u(*scale) if scale[0] < scale[1] else torch.full((n,), float(scale[0]), device=dev)
        cx = u(0, 1) * (w - cw * s) + cw * s / 2  # crop centre in pixels, the crop inside the frame
        cy = u(0, 1) * (h - ch * s) + ch * s / 2
        flip = torch.where(torch.rand(n, device=dev, generator=generator) < params.flip_p, -1.0, 1.0)
        bright = u(*params.brightness)

    # Affine map from output coords in [-1, 1]² to input coords in [-1, 1]² (align_corners=False):
    # input pixel offset from the crop centre = Rot(θ) · (flip·x·cw·s/2, y·ch·s/2).
    cos, sin = torch.cos(theta_r), torch.sin(theta_r)
    hx, hy = s * cw / 2, s * ch / 2
    theta = torch.stack(
        [
            torch.stack([cos * flip * hx / (w / 2), -sin * hy / (w / 2), cx / (w / 2) - 1], -1),
            torch.stack([sin * flip * hx / (h / 2), cos * hy / (h / 2), cy / (h / 2) - 1], -1),
        ],
        1,
    )  # N×2×3
    # Prescale the whole frame so that the largest crop lands at about out_size, then sample at about 1:1.
    pre = out_h / (ch * scale[1])
    rgb, d = _prescale(to_float_rgb(rgb_u8), depth, (max(1, round(h * pre)), max(1, round(w * pre))))
    grid = F.affine_grid(theta, [n, 3, *out_size], align_corners=False)
    rgb = F.grid_sample(rgb, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    d = F.grid_sample(d, grid.to(d.dtype), mode="nearest", padding_mode="zeros", align_corners=False)
    if scale[0] < 1:
        d = d * s.view(n, 1, 1, 1)
    rgb = (rgb * bright.view(n, 1, 1, 1)).clamp_(0, 1)
    if mode == "color":  # gamma, then a gain per colour channel (drawn after the report's draws)
        gamma = u(*params.gamma).view(n, 1, 1, 1)
        gain = (
            torch.rand(n, 3, device=dev, generator=generator) * (params.channel_scale[1] - params.channel_scale[0])
            + params.channel_scale[0]
        ).view(n, 3, 1, 1)
        rgb = (rgb.clamp_min(1e-6) ** gamma * gain).clamp_(0, 1)
    return rgb, d, d > 0


def cut_depth(
    rgb: torch.Tensor, depth_norm: torch.Tensor, p: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """CutDepth (Ishii & Yamashita, 2021): with probability ``p`` per image, a random rectangle of the input
    shows the ground-truth depth (normalised to [0, 1], the same value in all three channels) instead of RGB.

    rgb N×3×h×w in [0, 1], depth_norm N×1×h×w in [0, 1] (the training target) → rgb N×3×h×w. The rectangle's
    top-left corner is uniform over the image and each side a uniform share of what is left to the border, as
    in the paper. A training-time regulariser for small data sets: the network learns to use the depth where it
    is shown and the image where it is not, which the paper found to improve the image's own features.
    """
    if p <= 0:
        return rgb
    n, _, h, w = rgb.shape
    dev = rgb.device
    r = torch.rand(n, 5, device=dev, generator=generator)  # apply?, left, top, width share, height share
    left, top = r[:, 1] * w, r[:, 2] * h
    right, bottom = left + r[:, 3] * (w - left), top + r[:, 4] * (h - top)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    ys = torch.arange(h, device=dev).view(1, h, 1)
    inside = (xs >= left.view(n, 1, 1)) & (xs < right.view(n, 1, 1))
    inside = inside & (ys >= top.view(n, 1, 1)) & (ys < bottom.view(n, 1, 1))  # N×h×w
    inside = inside & (r[:, 0] < p).view(n, 1, 1)
    return torch.where(inside[:, None], depth_norm.to(rgb.dtype).expand_as(rgb), rgb)
