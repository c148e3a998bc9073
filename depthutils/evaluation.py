"""Scoring a trained model on the test set: the final evaluation of a run, a checkpoint or shipped weights
evaluated as a library call, and the few samples the notebooks show.

- :func:`final_evaluation`: both protocols with bootstrap intervals and per-image values, the layout of a run's
  ``results.json`` (``fit`` calls it after the last epoch, the baselines call it for their rows);
- :func:`evaluate_checkpoint`: what ``python -m depthutils evaluate`` computes, as a function: load a checkpoint or
  shipped weights, refuse test images the model was trained or validated on, score, return the results dict;
- :func:`predict_samples`: a few test pairs and their predictions at the data's stored resolution.

This module sits above the engine and the run folder and below ``fit`` (:mod:`depthutils.train`): it imports
neither ``train`` nor the CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np
import torch
import torch.nn as nn

from ._env import device_name, git_commit, resolve_device, versions
from .config import TrainConfig
from .data import DepthData
from .data.dataset import load_data
from .engine import DeviceData, evaluate, predict_batch, resolve_precision
from .losses import get_loss

__all__ = ["FINAL_PER_IMAGE", "TestScores", "Evaluation", "final_evaluation", "evaluate_checkpoint", "predict_samples"]

#: Per-image values kept in results.json (for bootstrap intervals and paired comparisons between rows).
FINAL_PER_IMAGE = ("delta1", "abs_rel", "rmse", "l1_global")


class TestScores(TypedDict):
    """Both protocols' metrics on a test set (``protocols``: 'report', 'standard', each with 95% intervals under
    ``ci``) and the per-image values they came from (``per_image``): the layout results.json keeps."""

    protocols: dict[str, dict[str, Any]]
    per_image: dict[str, dict[str, list[float]]]


class Evaluation(TypedDict, total=False):
    """What ``evaluate`` writes: the model (and where it came from: ``checkpoint`` with its epochs and
    pretraining, or ``weights`` with their SHA-256 and dtype, and ``onnx`` / ``backend`` for a graph), the settings
    it was trained with, the precision it was scored in, its scores (a test set: :class:`TestScores` and the
    data's identity under ``dataset``; frames from other cameras: their raw and median-scaled values), and the
    versions, commit and device of the evaluation."""

    model_name: str
    title: str
    checkpoint: str
    epochs: int
    pretrained: dict[str, Any]
    weights: str
    sha256: str
    dtype: str
    onnx: str
    backend: str
    train_config: dict[str, Any]
    precision: str
    protocols: dict[str, dict[str, Any]]
    per_image: dict[str, Any]
    dataset: dict[str, Any]
    frames: list[str]
    median_scale: list[float]
    versions: dict[str, str]
    git_commit: str
    device: str


def final_evaluation(
    model: nn.Module,
    test: DeviceData,
    *,
    image_size: tuple[int, int],
    max_depth: float,
    precision: str,
    loss: str | None,
    flip_tta: bool,
    edges: bool = True,
) -> TestScores:
    """Both protocols on the test set, with bootstrap intervals and per-image values (the layout of
    results.json's ``protocols`` and ``per_image``)."""
    kw: dict[str, Any] = dict(
        image_size=image_size, max_depth=max_depth, precision=precision, intervals=True, per_image=FINAL_PER_IMAGE
    )
    report = evaluate(model, test, protocol="report", loss_fn=get_loss(loss) if loss else None, edges=edges, **kw)
    standard = evaluate(model, test, protocol="standard", flip_tta=flip_tta, **kw)
    per_image = {"report": report.pop("per_image"), "standard": standard.pop("per_image")}
    return {"protocols": {"report": report, "standard": standard}, "per_image": per_image}


def _refuse_trained_images(test: dict[str, Any], trained: dict[str, Any]) -> None:
    """Scoring images that the model was trained or validated on is not a test result: refused, by name.
    ``test`` is the identity of the data to score, ``trained`` the model's (a checkpoint's ``dataset``)."""
    if test.get("n_pairs_in_source") != trained.get("n_pairs_in_source", test.get("n_pairs_in_source")):
        return  # other data than the model's: its indices say nothing about what the model saw
    seen = set(trained.get("train_indices", [])) | set(trained.get("val_indices", []))
    both = sorted(seen & set(test["test_indices"]))
    if both:
        raise ValueError(
            f"{len(both)} of the {len(test['test_indices'])} images to score (0-based {both[:5]}…) were in the "
            f"model's training or validation images ({trained.get('split')} split): that would not be a test "
            f"result. Evaluate on the split it was trained with (--split {trained.get('split')}) or other data."
        )


def _refuse_seen_images(data: Any, trained: dict[str, Any]) -> None:
    """The same refusal by content: test images whose fingerprint matches one that the model trained or validated
    on (``seen_fingerprints``, data/fingerprint.py), whatever folder, file name, size or split they come with.
    Models recorded before fingerprints existed are checked by indices only."""
    names = [f"index {i}" for i in data.identity["test_indices"]]
    _refuse_seen(data.rgb[data.test], names, data.identity["path"], trained)


def _refuse_seen(images: Any, names: list[str], where: str, trained: dict[str, Any]) -> None:
    from .data import fingerprint

    seen = trained.get("seen_fingerprints")
    if not seen:
        return
    hits = fingerprint.matches(images, fingerprint.unpack(seen["b64"]))
    if hits:
        shown = [names[i] for i in hits[:5]]
        raise ValueError(
            f"{len(hits)} of the {len(names)} images to score ({', '.join(shown)}{'…' if len(hits) > 5 else ''} "
            f"in {where}) are images the model was trained or validated on, found by their content (a copy, in "
            "any folder, size or mirrored): that would not be a test result. Score images it has not seen."
        )


def _load_scored_model(
    checkpoint: str | Path | None, weights: str | None, device: torch.device, data: str | None
) -> tuple[nn.Module, Mapping[str, Any], dict[str, Any], dict[str, Any], str | None]:
    """(model on ``device``, its record: model_name / title / config, where it came from, the identity of the
    data it was trained on, the precision its model card was measured in, or None) of a checkpoint or weights."""
    if checkpoint is not None:
        from .run_folder import load_checkpoint, model_from_checkpoint

        ck = load_checkpoint(checkpoint)
        source = {"checkpoint": str(checkpoint), "epochs": ck["epoch"], "pretrained": ck["pretrained"]}
        return model_from_checkpoint(ck, device), ck, source, ck["dataset"], None
    from .models import build_model, get_weights

    w = get_weights(weights)
    recipe = {**w.meta["recipe"], **{k: _card_path(w.meta["recipe"].get(k)) for k in ("data", "gt_data")}}
    record = {"model_name": w.model, "title": w.meta["title"], "config": recipe}
    model = build_model(w.model, weights=w.name).to(device)
    source = {"weights": w.name, "sha256": w.meta["sha256"], "dtype": w.meta["dtype"]}
    if not data and not Path(str(recipe.get("data"))).exists():
        raise ValueError(f"--data is required: the data {w.name} was trained on is not on this machine")
    return model, record, source, w.meta["training"], w.meta["metrics"]["standard"]["protocol"]["precision"]


def _card_path(path: str | None) -> str | None:
    """A data path of a model card: absolute (older cards), or relative to the repository (``../shared/data/…``,
    as the export writes it: a card names no machine)."""
    if not path or path == "synthetic" or Path(path).is_absolute():
        return path
    return str((Path(__file__).resolve().parents[1] / path).resolve())


def _same_data(data: str | None, own: str | None) -> bool:
    """No --data, or --data naming the data the model was trained on (the same folder or file)."""
    if not data:
        return True
    return own is not None and Path(data).expanduser().resolve() == Path(own).expanduser().resolve()


def _note_ground_truth(data: str | None, gt_data: str | None, cfg: dict[str, Any]) -> None:
    """Say so when the standard protocol will score against --data's own depth although the model's card or run
    used full-size ground truth: the numbers are then not the card's."""
    if gt_data is None and cfg.get("gt_data") and not _same_data(data, cfg.get("data")):
        print(
            f"note: scoring against {data}'s own depth; the model was scored against full-size ground truth "
            f"({Path(cfg['gt_data']).name}): pass --gt-data with the same images at full size to score as it was",
            file=sys.stderr,
        )


def _score_test_set(
    model: nn.Module, cfg: TrainConfig, trained: dict[str, Any], device: torch.device, precision: str, flip_tta: bool
) -> dict[str, Any]:
    """Both protocols on the test images that ``cfg`` describes, after refusing those the model has seen."""
    test_data = load_data(cfg, with_train=False)
    _refuse_trained_images(test_data.identity, trained)
    _refuse_seen_images(test_data, trained)
    res = final_evaluation(
        model,
        DeviceData(test_data, test_data.test, device, gt=test_data.test_gt),
        image_size=cfg.image_size,
        max_depth=cfg.max_depth,
        precision=precision,
        loss=cfg.loss,
        flip_tta=flip_tta,
    )
    return {**res, "dataset": test_data.identity}


def evaluate_checkpoint(
    checkpoint: str | Path | None = None,
    *,
    weights: str | None = None,
    data: str | None = None,
    gt_data: str | None = None,
    split: str | None = None,
    test_limit: int | None = None,
    flip_tta: bool = True,
    precision: str | None = None,
    device: str | torch.device = "auto",
    onnx: str | Path | None = None,
) -> Evaluation:
    """Test-set metrics of a checkpoint (a run's last.pt or best.pt) or of shipped ``weights`` (by name), both
    protocols, as the dict that ``python -m depthutils evaluate`` writes.

    ``data`` / ``gt_data`` / ``split`` default to the model's own; images it was trained or validated on are
    refused. A ``data`` folder of ``NAME/rgb.png`` + ``NAME/depth.png`` frames from other cameras is scored raw
    and median-scaled instead (:mod:`depthutils.other_cameras`). ``precision`` defaults to the model card's with
    ``weights`` (so that any machine reproduces it), else ``'auto'``. ``onnx``: an exported graph of shipped
    weights (``export --onnx``), scored through ONNX Runtime on the CPU (fp32) as those weights would be.
    """
    ox = None
    if onnx is not None:
        from .onnx_backend import OnnxModel, check_against_weights

        if checkpoint is not None or weights:
            raise ValueError("give --onnx alone: the graph names the shipped weights it was exported from")
        ox, ox_dev = OnnxModel(onnx), torch.device("cpu")
        weights = check_against_weights(ox.meta, Path(onnx))["weights"]
    if (checkpoint is None) == (weights is None):
        raise ValueError("give exactly one of a checkpoint and shipped weights")
    device = device if isinstance(device, torch.device) else resolve_device(device)
    model, record, source, trained, card_precision = _load_scored_model(checkpoint, weights, device, data)
    precision = resolve_precision(precision or card_precision or "auto", device)
    if ox is not None:  # the graph in the place of the torch model: same data and protocol, fp32 (what it runs)
        model, source, precision, device = ox, {**source, "onnx": str(onnx), "backend": "onnxruntime"}, "fp32", ox_dev
    cfg = TrainConfig.from_dict(record["config"])
    from .other_cameras import evaluate_frames, is_frames_folder

    if data and is_frames_folder(data):
        from .data import read_rgb
        from .other_cameras import list_frames

        frames = list_frames(data)
        _refuse_seen([read_rgb(f[1]) for f in frames], [f[0] for f in frames], str(data), trained)
        res = evaluate_frames(
            model, data, image_size=cfg.image_size, max_depth=cfg.max_depth, precision=precision, flip_tta=flip_tta
        )
    else:
        over = {
            "data": data or cfg.data,
            "split": split or cfg.split,
            "test_limit": test_limit,
            # the model's own full-size ground truth belongs to its own data: other --data brings its own (or none)
            "gt_data": gt_data if gt_data is not None else (cfg.gt_data if _same_data(data, cfg.data) else None),
        }
        _note_ground_truth(data, gt_data, record["config"])
        res = _score_test_set(
            model, TrainConfig.from_dict({**cfg.to_dict(), **over}), trained, device, precision, flip_tta
        )
    record_out: dict[str, Any] = {
        "model_name": record["model_name"],
        "title": record["title"],
        **source,
        "train_config": record["config"],
        "precision": precision,
        **res,
        "versions": versions(),
        "git_commit": git_commit(),
        "device": device_name(device),
    }
    return cast(Evaluation, record_out)  # source and res hold the keys Evaluation lists


@torch.no_grad()
def predict_samples(
    model: nn.Module,
    data: DepthData,
    idx: np.ndarray | list[int],
    *,
    image_size: tuple[int, int],
    max_depth: float = 10.0,
    precision: str = "fp32",
    flip_tta: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A few pairs as the standard protocol sees them, at the data's stored resolution: RGB N×H×W×3 uint8,
    ground truth N×H×W metres, and the prediction made at the model's input size and upsampled bilinearly to
    H×W. Every model's samples thus share one size, whatever its input (square or 4:3)."""
    import torch.nn.functional as F

    from .data import resize_batch

    dev = next(model.parameters()).device
    d = DeviceData(data, np.asarray(idx), dev)
    rgb, _, _ = resize_batch(d.rgb, d.depth, cast("tuple[int, int]", tuple(image_size)))
    pred = predict_batch(model.eval(), rgb, precision=precision, flip_tta=flip_tta)
    pred = F.interpolate(pred, size=d.depth.shape[-2:], mode="bilinear", align_corners=False) * max_depth
    full = d.rgb.permute(0, 2, 3, 1).cpu().numpy()
    return full, d.depth[:, 0].cpu().numpy(), pred[:, 0].cpu().numpy()
