"""The engine: one training step, one epoch, evaluation under a named protocol, and batched prediction.

Data flow: uint8 RGB N×3×H×W and depth N×1×H×W (metres, 0 = invalid) live on the device (``DeviceData``);
a step indexes a batch there, augments it there (``augment_batch``), normalises depth by ``max_depth`` and
runs forward + backward + optimizer step under the run's precision. ``fit`` (train.py), the benchmark and
``report/scripts/profile_cpu_step.py`` all call :func:`train_step`, so what is timed is what trains.

Precision: ``bf16`` is autocast to bfloat16 (weights, optimizer state and loss stay fp32); ``auto`` picks bf16
on CUDA and on CPUs with native bf16 instructions (AVX512-BF16 or AMX), fp32 elsewhere.

Evaluation protocols (every result names the one that produced it):
- ``report``: the report's own: the test image resized to the model input (``image_size``), ground truth
  resized the same way (nearest), metrics at the model's resolution, no crop, no test-time augmentation.
- ``standard``: the field's (BTS, AdaBins, ZoeDepth): predict at the model input size, upsample the prediction
  bilinearly to the ground truth's full resolution (``DeviceData.gt``, e.g. 480×640), Eigen crop, valid depth in
  (1e-3, max_depth], prediction clipped to that range, per-image means, flip TTA when asked.
"""

from __future__ import annotations

import contextlib
import functools
import math
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import DepthData, augment_batch, cut_depth, resize_batch
from .metrics import MetricAccumulator

__all__ = [
    "DeviceData",
    "PROTOCOLS",
    "cpu_has_native_bf16",
    "resolve_precision",
    "autocast",
    "train_step",
    "train_one_epoch",
    "evaluate",
    "predict_batch",
    "lr_at",
    "param_groups",
    "make_optimizer",
]

#: The evaluation protocols and what each does; results carry this record under their name.
PROTOCOLS: dict[str, dict[str, Any]] = {
    "report": {
        "resolution": "model input",
        "gt": "resized to the model input (nearest)",
        "eigen_crop": False,
        "flip_tta": False,
        "depth_range_m": [1e-3, 10.0],
    },
    "standard": {
        "resolution": "ground truth",
        "gt": "full resolution; prediction upsampled bilinearly",
        "eigen_crop": True,
        "flip_tta": True,
        "depth_range_m": [1e-3, 10.0],
    },
}


class DeviceData:
    """Pairs as tensors on the device: RGB uint8 N×3×H×W, depth float32 N×1×H×W metres.

    ``gt`` is the full-resolution ground truth N×1×H'×W' for the standard protocol (``depth`` when the data has
    no separate full-size copy).
    """

    def __init__(self, data: DepthData, idx: np.ndarray, device: torch.device, gt: np.ndarray | None = None):
        self.rgb = torch.from_numpy(np.ascontiguousarray(data.rgb[idx].transpose(0, 3, 1, 2))).to(device)
        self.depth = torch.from_numpy(np.ascontiguousarray(data.depth[idx])[:, None]).to(device)
        self.gt = self.depth if gt is None else torch.from_numpy(np.ascontiguousarray(gt)[:, None]).to(device)
        if len(self.gt) != len(self.rgb):
            raise ValueError(f"{len(self.gt)} ground-truth maps for {len(self.rgb)} images")

    def __len__(self) -> int:
        return self.rgb.shape[0]

    def add_teacher(self, teacher_depth: torch.Tensor) -> None:
        """Distillation: a teacher's prediction N×1×H×W (metres) becomes channel 1 of ``depth`` (N×2×H×W), so
        that the augmentation moves it with the measured depth and :func:`train_step` adds a loss against it."""
        if teacher_depth.shape != self.depth.shape:
            raise ValueError(f"teacher depth {tuple(teacher_depth.shape)} must match {tuple(self.depth.shape)}")
        self.depth = torch.cat([self.depth, teacher_depth.to(self.depth)], 1)


# --- precision ----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 instructions (x86 AVX512-BF16 or AMX-BF16), which oneDNN uses for bf16 convs.

    Read from /proc/cpuinfo on Linux; elsewhere False (fp32), as emulated bf16 is slower than fp32.
    """
    if platform.system() != "Linux":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' → 'bf16' on CUDA and on CPUs with native bf16, else 'fp32'; 'bf16' and 'fp32' as given."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()) else "fp32"
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision == 'bf16'``; a no-op context for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


# --- training -----------------------------------------------------------------------------------------------
def make_optimizer(name: str, params, *, lr: float, weight_decay: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam or AdamW; fused kernels on CUDA."""
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    return cls(params, lr=lr, weight_decay=weight_decay, fused=device.type == "cuda")


def param_groups(model: nn.Module, encoder_lr_scale: float = 1.0) -> Any:
    """The optimiser's parameters: all in one group, or (``encoder_lr_scale`` ≠ 1) the encoder's in a group of its
    own whose ``lr_scale`` multiplies the scheduled rate (``model.encoder``: every DepthModel has one)."""
    if encoder_lr_scale == 1.0:
        return model.parameters()  # one group, as every run before the setting existed
    encoder = {id(p) for p in model.encoder.parameters()}  # type: ignore[union-attr]
    rest = [p for p in model.parameters() if id(p) not in encoder]
    return [
        {"params": list(model.encoder.parameters()), "lr_scale": encoder_lr_scale},  # type: ignore[union-attr]
        {"params": rest, "lr_scale": 1.0},
    ]


def lr_at(epoch: int, *, lr: float, epochs: int, schedule: str = "constant", warmup_epochs: int = 0) -> float:
    """Learning rate of ``epoch`` (0-based): linear warm-up over ``warmup_epochs``, then constant or cosine to 0."""
    if epoch < warmup_epochs:
        return lr * (epoch + 1) / (warmup_epochs + 1)
    if schedule == "cosine":
        t = (epoch - warmup_epochs) / max(epochs - warmup_epochs, 1)
        return lr * 0.5 * (1 + math.cos(math.pi * t))
    return lr


def train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: Callable,
    rgb_u8: torch.Tensor,
    depth: torch.Tensor,
    *,
    image_size: tuple[int, int],
    max_depth: float,
    precision: str,
    generator: torch.Generator | None = None,
    scale_aug: tuple[float, float] = (1.0, 1.0),
    augment: str = "report",
    cutdepth: float = 0.0,
    distill_weight: float = 0.0,
) -> torch.Tensor:
    """One step on a batch that is already on the device: augment, forward, masked loss, backward, update.

    rgb_u8 B×3×H×W uint8, depth B×1×H×W metres, or B×2×H×W with a teacher's prediction as channel 1
    (:meth:`DeviceData.add_teacher`): it goes through the same augmentation as the measured depth and adds
    ``distill_weight`` × the loss against it. ``cutdepth``: the CutDepth probability (:func:`cut_depth`).
    Returns the loss as a detached 0-d tensor (no host sync).
    """
    rgb, d, mask = augment_batch(rgb_u8, depth, image_size, generator=generator, scale=scale_aug, mode=augment)
    targets = (d / max_depth).clamp_(0, 1)  # B×C×h×w, the model's output range (C = 2 with a teacher)
    target, mask = targets[:, :1], mask[:, :1]
    rgb = cut_depth(rgb, target, cutdepth, generator=generator).contiguous(memory_format=torch.channels_last)
    with autocast(rgb.device, precision):
        pred = model(rgb)
    loss = loss_fn(pred.float(), target, mask)  # the loss in fp32 whatever the precision
    if targets.shape[1] == 2:
        loss = loss + distill_weight * loss_fn(pred.float(), targets[:, 1:], targets[:, 1:] > 0)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def train_one_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: Callable,
    train: DeviceData,
    *,
    batch_size: int,
    generator: torch.Generator,
    desc: str = "",
    progress: bool = False,
    **step_kw: Any,
) -> dict[str, float]:
    """One pass over ``train`` in the order drawn from ``generator``; the last batch is dropped when it would
    hold a single image (BatchNorm). ``step_kw`` go to :func:`train_step` (image_size, max_depth, precision,
    scale_aug, augment, cutdepth, distill_weight). Returns train_loss (image-weighted mean), images and seconds."""
    from tqdm import tqdm  # plain: no notebook widget (and no IProgress warning) inside executed notebooks

    device = train.rgb.device
    n = len(train)
    steps = n // batch_size + (1 if n % batch_size >= 2 else 0)
    perm = torch.randperm(n, device=device, generator=generator)
    model.train()
    loss_sum, seen = torch.zeros((), device=device), 0
    bar = tqdm(
        total=min(n, steps * batch_size), desc=desc, unit="img", disable=not progress, leave=False, file=sys.stderr
    )
    t0 = time.perf_counter()
    for s in range(steps):
        idx = perm[s * batch_size : (s + 1) * batch_size]
        try:
            loss = train_step(model, opt, loss_fn, train.rgb[idx], train.depth[idx], generator=generator, **step_kw)
        except torch.cuda.OutOfMemoryError as e:
            raise RuntimeError(
                f"GPU out of memory at batch size {batch_size} and image size {step_kw.get('image_size')}. "
                f"Try --batch-size {max(batch_size // 2, 2)}."
            ) from e
        loss_sum += loss * idx.numel()
        seen += idx.numel()
        bar.update(idx.numel())
        if device.type == "cpu" and progress:  # free on CPU; on CUDA this would sync every step
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}")
    bar.close()
    train_loss = float(loss_sum) / seen  # one sync per epoch
    return {"train_loss": train_loss, "images": seen, "seconds": time.perf_counter() - t0}


# --- prediction and evaluation ------------------------------------------------------------------------------
def predict_batch(
    model: nn.Module, rgb: torch.Tensor, *, flip_tta: bool = False, precision: str = "fp32"
) -> torch.Tensor:
    """Normalised depth N×1×h×w (fp32) for RGB N×3×h×w in [0, 1]; with ``flip_tta`` averaged with the
    prediction of the mirrored image, mirrored back. The image and its mirror go through the model as one batch
    of 2N (in eval mode each image's output is its own): on the 2-core CPU one pass of 2 took 35 ms where two
    passes of 1 took 45 (shipped RegNet UNet, 192×256)."""
    with autocast(rgb.device, precision):
        if not flip_tta:
            return model(rgb).float()
        both = model(torch.cat([rgb, rgb.flip(-1)])).float()  # 2N×1×h×w: the images, then their mirrors
        n = rgb.shape[0]
        return 0.5 * (both[:n] + both[n:].flip(-1))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: DeviceData,
    *,
    image_size: tuple[int, int],
    protocol: str = "report",
    max_depth: float = 10.0,
    batch_size: int = 32,
    precision: str = "fp32",
    flip_tta: bool | None = None,
    loss_fn: Callable | None = None,
    edges: bool = False,
    intervals: bool = False,
    per_image: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Metrics of ``model`` on ``data`` under ``protocol`` ('report' or 'standard', see the module docstring).

    Returns the mean of every metric, plus ``test_loss`` (report protocol, with ``loss_fn``), ``ci`` (95%
    bootstrap intervals over images, with ``intervals``), ``per_image`` (the listed metrics' per-image values)
    and ``protocol``: the record of what was done (ground-truth resolution, crop, flip TTA).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    standard = protocol == "standard"
    tta = PROTOCOLS[protocol]["flip_tta"] if flip_tta is None else flip_tta
    model.eval()
    acc = MetricAccumulator(max_depth=max_depth, eigen_crop=standard, edges=edges)
    loss_sum, n = torch.zeros((), device=data.rgb.device), 0
    if standard:  # full-resolution temporaries (B×1×480×640 each): small batches are faster on CPU, lighter on GPU
        batch_size = min(batch_size, 8)
    for s in range(0, len(data), batch_size):
        sl = slice(s, s + batch_size)
        rgb, d, mask = resize_batch(data.rgb[sl], data.depth[sl], image_size)
        pred = predict_batch(
            model, rgb.contiguous(memory_format=torch.channels_last), flip_tta=tta, precision=precision
        )  # B×1×h×w, normalised
        if loss_fn is not None and not standard:
            loss_sum += loss_fn(pred, (d / max_depth).clamp(0, 1), mask) * rgb.shape[0]
        n += rgb.shape[0]
        if standard:
            gt = data.gt[sl]  # B×1×H'×W' metres, e.g. 480×640
            up = F.interpolate(pred, size=gt.shape[-2:], mode="bilinear", align_corners=False)
            acc.update(up * max_depth, gt, gt > 0)
        else:
            acc.update(pred * max_depth, d, mask)
    out: dict[str, Any] = acc.compute()
    if len(data) and out["n_images"] == 0:
        from .data import DataError

        raise DataError(
            f"none of the {len(data)} images has ground-truth depth in ({acc.min_depth:g}, {max_depth:g}] m, so "
            "every metric would be empty. Check the depth's units (PNG: uint16 millimetres) and --max-depth."
        )
    if loss_fn is not None and not standard:
        out["test_loss"] = float(loss_sum) / max(n, 1)
    if intervals:
        out["ci"] = acc.intervals()
    if per_image:
        per = acc.per_image()
        out["per_image"] = {k: per[k].tolist() for k in per_image}
    gt_hw = list(data.gt.shape[-2:]) if standard else list(image_size)
    out["protocol"] = {
        "name": protocol,
        **PROTOCOLS[protocol],
        "flip_tta": tta,
        "gt_resolution_hw": gt_hw,
        "model_input_hw": list(image_size),
        "precision": precision,
        "depth_range_m": [acc.min_depth, max_depth],
    }
    return out
