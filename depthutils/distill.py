"""Distillation targets: a teacher ensemble's depth for the training images.

The teacher is one or more finished runs (``last.pt``). Each predicts every training image once, at its own
input size with flip TTA; the predictions are upsampled to the stored resolution and averaged. The mean becomes
a second target channel (:meth:`~depthutils.engine.DeviceData.add_teacher`) that the augmentation moves with the
measured depth, so a student sees the teacher's depth of each augmented view it trains on. Predicting once,
before training, costs seconds; the teacher's own training is the cost to report.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

from .data import resize_batch
from .engine import DeviceData, predict_batch, resolve_precision
from .run_folder import load_checkpoint, model_from_checkpoint

__all__ = ["teacher_paths", "teacher_depth"]


def teacher_paths(teacher: str | None) -> list[str]:
    """The checkpoints of ``TrainConfig.teacher`` ('a.pt,b.pt'); [] when unset."""
    return [p.strip() for p in (teacher or "").split(",") if p.strip()]


@torch.no_grad()
def teacher_depth(
    checkpoints: list[str],
    data: DeviceData,
    *,
    held_out: Iterable[int] = (),
    precision: str = "auto",
    batch_size: int = 16,
) -> torch.Tensor:
    """The ensemble's mean depth N×1×H×W (metres) for ``data``'s images, at their stored resolution H×W.

    ``held_out``: the student's validation and test indices in the source (``DepthData.identity``). A teacher
    trained on any of them would carry those images into the student, so it is refused."""
    if not checkpoints:
        raise ValueError("no teacher checkpoint given")
    device = data.rgb.device
    total = torch.zeros(data.depth[:, :1].shape, device=device)
    held = {int(i) for i in held_out}
    for path in checkpoints:
        ck = load_checkpoint(path)
        cfg = ck["config"]
        leaked = sorted(held & set(ck["dataset"].get("train_indices", [])))
        if leaked:
            raise ValueError(
                f"teacher {path} was trained on {len(leaked)} of the student's validation or test images (indices "
                f"{leaked[:5]}…); a teacher must be trained on the student's training images only"
            )
        model = model_from_checkpoint(ck, device).eval()
        prec = resolve_precision(precision, device)
        for s in range(0, len(data), batch_size):
            sl = slice(s, s + batch_size)
            rgb, _, _ = resize_batch(data.rgb[sl], data.depth[sl, :1], cfg["image_size"])
            rgb = rgb.contiguous(memory_format=torch.channels_last)
            pred = predict_batch(model, rgb, flip_tta=True, precision=prec)  # B×1×h×w, normalised
            up = F.interpolate(pred, size=total.shape[-2:], mode="bilinear", align_corners=False)
            total[sl] += up * cfg["max_depth"]
    return total / len(checkpoints)
