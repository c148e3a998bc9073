"""Retrain a shipped model from its card: one command from a clean checkout, and a check that it lands.

    python -m depthutils retrain nyu-regnet-unet --data ../shared/data/nyu_v2_labeled_256x192 \\
        --gt-data ../shared/data/nyu_v2_labeled --out runs/retrain-nyu-regnet-unet

``meta.json`` holds the run's settings (``recipe``) and, under ``lineage``, the settings of every run it started
from: its synthetic pretraining (``init_from``) and its teachers (``teacher``), each with its own lineage.
``retrain`` trains them first, each into ``OUT/<role>-<hash of its settings>/`` (so that a pretraining shared by
two teachers is trained once), points the settings that use them at the new checkpoints, trains the model into
``OUT/model``, scores its ``last.pt`` as ``evaluate --weights`` scores the shipped file (same test images, same
precision) and writes ``OUT/retrain.json``: each metric beside the card's value and 95% interval, and whether it
lands inside. Every run resumes, so an interrupted retrain continues where it stopped.

A retrain on another machine, or with another torch, is not bit-identical (bf16 kernels differ): the interval
is the yardstick, as for any re-run of the study.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

from ._io import write_json_atomic
from .config import TrainConfig
from .models.weights import get_weights
from .train import fit

__all__ = ["retrain", "RETRAIN_FILE"]

RETRAIN_FILE = "retrain.json"
_METRICS = ("delta1", "abs_rel", "rmse")


class _Where(NamedTuple):
    """Where a retrain reads and writes: the user's data copies, the output folder, progress bars or not."""

    data: str
    gt_data: str | None
    out: Path
    progress: bool


def _settings(cfg: dict[str, Any], lineage: dict[str, Any], where: _Where) -> dict:
    """``cfg`` with its real data (and full-resolution ground truth) replaced by the user's copies and its
    ``init_from`` / ``teacher`` by retrained runs (trained here first, recursively)."""
    cfg = dict(cfg)
    if cfg["data"] != "synthetic":  # a synthetic pretraining renders its own rooms; real data is the user's copy
        cfg["data"] = where.data
    if cfg.get("gt_data"):
        if not where.gt_data:
            raise ValueError(f"a run of the card was scored on {cfg['gt_data']}; pass --gt-data with your copy")
        cfg["gt_data"] = where.gt_data
    if cfg.get("init_from"):
        parent = lineage.get("init_from")
        if parent is None:
            raise ValueError(f"the settings start from {cfg['init_from']}, but the card records no lineage for it")
        cfg["init_from"] = str(_train(parent, "init", where) / "last.pt")
    if cfg.get("teacher"):
        parents = lineage.get("teacher") or []
        if len(parents) != len(cfg["teacher"].split(",")):
            raise ValueError(f"the settings distil from {cfg['teacher']}, but the card records no lineage for them")
        cfg["teacher"] = ",".join(str(_train(p, "teacher", where) / "last.pt") for p in parents)
    return cfg


def _train(node: dict[str, Any], role: str, where: _Where) -> Path:
    """Train (or resume, or find finished) one run of the lineage; returns its folder."""
    cfg = _settings(node["config"], node.get("lineage", {}), where)
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]
    folder = where.out / f"{role}-{digest}"
    fit(TrainConfig.from_dict(cfg), folder, resume=True, progress=where.progress)
    return folder


def _check_inputs(data: str, gt_data: str | None, out: Path) -> None:
    """The user's paths, checked before any training (a synthetic pretraining would otherwise render thousands of
    rooms first, and only then find that --data does not exist)."""
    for flag, path in (("--data", data), ("--gt-data", gt_data)):
        if path and path != "synthetic" and not Path(path).exists():
            raise FileNotFoundError(f"{flag} {path} does not exist: give your copy of the data the card names")
    for parent in (out, *out.parents):
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"--out {out}: {parent} is a file; give a folder for the retrain's runs")


def retrain(
    name: str,
    *,
    data: str,
    out: str | Path,
    gt_data: str | None = None,
    root: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Retrain the shipped weights ``name`` (with their lineage) on ``data`` into ``out`` and score the result
    against the model card; returns what ``out/retrain.json`` holds.

    ``data``: the training data (the card's own copy of NYU, e.g. ``nyu_v2_labeled_256x192``); ``gt_data``: the
    full-resolution ground truth the card was scored on, if any (required when the card's run used one)."""
    from .evaluation import evaluate_checkpoint

    w = get_weights(name, root)
    recipe, card = w.meta["recipe"], w.meta["metrics"]["standard"]
    card_gt = card.get("gt_data") or (Path(recipe["gt_data"]).name if recipe.get("gt_data") else None)
    if card_gt and not gt_data:
        raise ValueError(
            f"the card of '{name}' was scored on full-resolution ground truth ({card_gt}); pass --gt-data with your "
            f"copy (e.g. ../shared/data/{card_gt}), so that the retrained model is scored as the card was"
        )
    out = Path(out)
    _check_inputs(data, gt_data, out)  # before hours of pretraining: the data is read only after it
    cfg = _settings(recipe, w.meta.get("lineage", {}), _Where(data, gt_data, out, progress))
    cfg["extra"] = {**recipe["extra"], "retrain": name}
    fit(TrainConfig.from_dict(cfg), out / "model", resume=True, progress=progress)
    scored = evaluate_checkpoint(  # as the card was scored: its test images (the first n), its precision
        out / "model" / "last.pt",
        data=data,
        gt_data=gt_data,
        test_limit=card["n_images"],
        precision=card["protocol"]["precision"],
    )["protocols"]["standard"]
    if (
        scored["n_images"] != card["n_images"]
        or scored["protocol"]["gt_resolution_hw"] != card["protocol"]["gt_resolution_hw"]
    ):
        raise ValueError(
            f"the retrained model was scored on {scored['n_images']} test images against "
            f"{scored['protocol']['gt_resolution_hw']} ground truth, the card on {card['n_images']} against "
            f"{card['protocol']['gt_resolution_hw']}: pass the --data / --gt-data the card names ({out / 'model'} "
            "is kept; the same command scores it again without training)"
        )
    report = {
        "weights": name,
        "sha256": w.meta["sha256"],
        "run": str(out / "model"),
        "n_images": scored["n_images"],
        "metrics": {
            k: {
                "retrained": scored[k],
                "card": card[k],
                "card_ci95": card["ci95"][k],
                "within_ci95": card["ci95"][k][0] <= scored[k] <= card["ci95"][k][1],
            }
            for k in _METRICS
        },
    }
    write_json_atomic(out / RETRAIN_FILE, report)
    return report
