"""Collecting results into the study's tables: the report's table (its Figure 2) and the standard table, each
with the image-blind baselines as rows, and the generated Markdown for report/generated/."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .config import REPORT_ROWS

__all__ = [
    "collect_results",
    "baseline_rows",
    "report_table",
    "standard_table",
    "to_markdown",
    "provenance",
    "write_report_tables",
    "separated",
    "find_best_checkpoint",
    "paired_table",
    "EXTRA_ROWS",
]

#: Run folders beside the report's rows that the tables pick up when present (title None: from the results).
EXTRA_ROWS = {
    "resnet_unet_report_split": "ResNet UNet, L1 loss (report split)",
    "resnete_decoder_v3_aspect": "ResNetE Decoder v3, 96x128 (aspect kept)",
    "improved": None,
}


def _row(
    title: str,
    run: str | None,
    results: dict | None,
    printed: tuple = (None, None),
    report_epochs: int | None = None,
    kind: str = "model",
) -> dict[str, Any]:
    return {
        "row": title,
        "run": run,
        "results": results,
        "report_l1": printed[0],
        "report_mse": printed[1],
        "report_epochs": report_epochs,
        "kind": kind,
    }


def collect_results(runs_dir: str | Path) -> list[dict[str, Any]]:
    """The report's rows (results None when a run is missing or unfinished), then the extra rows that exist."""
    runs_dir = Path(runs_dir)

    def load(name: str) -> dict | None:
        p = runs_dir / name / "results.json"
        return json.loads(p.read_text()) if p.exists() else None

    rows = [_row(r.title, r.run_name, load(r.run_name), (r.printed_l1, r.printed_mse), r.epochs) for r in REPORT_ROWS]
    for name, title in EXTRA_ROWS.items():
        res = load(name)
        if res:
            rows.append(_row(title or f"{res['title']}, improved ({res['config']['loss']})", name, res))
    return rows


def baseline_rows(baselines: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The baselines file's rows in the layout of collect_results (kind 'baseline')."""
    if not baselines:
        return []
    return [_row(r["title"], name, r, kind="baseline") for name, r in baselines["rows"].items()]


def _f(v: Any, nd: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _ci(m: dict, key: str, nd: int) -> str:
    """'0.512 [0.498, 0.526]': the mean and its 95% bootstrap interval."""
    lo, hi = (m.get("ci") or {}).get(key, (None, None))
    return f"{_f(m.get(key), nd)} [{_f(lo, nd)}, {_f(hi, nd)}]" if lo is not None else _f(m.get(key), nd)


def _protocol(r: dict, name: str) -> dict:
    return ((r["results"] or {}).get("protocols") or {}).get(name, {})


def report_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Figure 2 rebuilt: the report's printed L1/MSE beside ours under both readings of its normalisation
    (global ÷ 10 m, and per image min–max), at the model's resolution (the report protocol)."""
    head = [
        "row",
        "report epochs",
        "our epochs",
        "report L1",
        "L1 (÷10 m)",
        "L1 (per image)",
        "report MSE",
        "MSE (÷10 m)",
        "MSE (per image)",
    ]
    body = []
    for r in rows:
        m = _protocol(r, "report")
        body.append(
            [
                r["row"],
                _f(r["report_epochs"]),
                _f((r["results"] or {}).get("epochs")),
                _f(r["report_l1"]),
                _f(m.get("l1_global")),
                _f(m.get("l1_per_image")),
                _f(r["report_mse"]),
                _f(m.get("mse_global")),
                _f(m.get("mse_per_image")),
            ]
        )
    return head, body


def standard_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The standard protocol (ground truth at full resolution, Eigen crop, flip TTA) with 95% bootstrap intervals
    over test images; then edge sharpness (report protocol), size, training time, precision, encoder."""
    head = [
        "row",
        "δ1 ↑ [95% CI]",
        "AbsRel ↓ [95% CI]",
        "RMSE [m] ↓ [95% CI]",
        "L1 ÷10 m ↓ [95% CI]",
        "δ2 ↑",
        "log10 ↓",
        "ε_acc [px] ↓",
        "params [M]",
        "train time [min]",
        "precision",
        "encoder",
    ]
    body = []
    for r in rows:
        res = r["results"] or {}
        m, rep = _protocol(r, "standard"), _protocol(r, "report")
        model = r["kind"] == "model"
        body.append(
            [
                r["row"],
                _ci(m, "delta1", 3),
                _ci(m, "abs_rel", 3),
                _ci(m, "rmse", 3),
                _ci(m, "l1_global", 4),
                _f(m.get("delta2"), 3),
                _f(m.get("log10"), 3),
                _f(rep.get("dbe_acc"), 2),
                _f(res["model_meta"]["n_params"] / 1e6, 1) if model and res else "–",
                _f(res["train_time_s"] / 60, 1) if model and res else "–",
                res.get("precision", "–") if model else "–",
                res.get("pretrained", {}).get("used", "–") if model else "image-blind",
            ]
        )
    return head, body


def separated(a: dict, b: dict, key: str, protocol: str = "standard") -> bool | None:
    """True when the 95% intervals of ``key`` for rows ``a`` and ``b`` do not overlap (None when one is missing)."""
    ia = (_protocol(a, protocol).get("ci") or {}).get(key)
    ib = (_protocol(b, protocol).get("ci") or {}).get(key)
    if not ia or not ib or any(v is None for v in (*ia, *ib)):
        return None
    return ia[1] < ib[0] or ib[1] < ia[0]


def to_markdown(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def provenance(rows: list[dict]) -> dict[str, Any]:
    """What the results rest on: data, split, ground truth, device, precision, encoders, versions, commits."""
    got = [r["results"] for r in rows if r["results"] and r["kind"] == "model"]
    if not got:
        return {}
    first = got[0]
    ds = first["dataset"]
    std = first["protocols"]["standard"]["protocol"]
    return {
        "data": f"{ds['name']} ({ds['kind']})",
        "split": ds["split"],
        "n_train": ds["n_train"],
        "n_val": ds.get("n_val"),
        "n_test": ds["n_test"],
        "resolution_wh": ds.get("resolution_wh"),
        "image_size": first["config"]["image_size"],
        "gt_resolution_hw": std["gt_resolution_hw"],
        "flip_tta": std["flip_tta"],
        "device": sorted({g["device"] for g in got}),
        "precision": sorted({g.get("precision", "fp32") for g in got}),
        "encoders": sorted({g["pretrained"]["used"] for g in got}),
        "versions": first["versions"],
        "git_commit": sorted({g["git_commit"] for g in got}),
        "profile": first["config"].get("extra", {}).get("profile"),
        "train_time_min": sum(g["train_time_s"] for g in got) / 60,
    }


def write_report_tables(rows: list[dict], path: str | Path, figures: dict[str, str | Path]) -> Path:
    """The generated part of the report: provenance, Figure 2 rebuilt, the standard table, figure links.
    ``rows`` are the model rows followed by the baseline rows."""
    from ._io import write_text_atomic

    path = Path(path)
    prov = provenance(rows)
    enc = prov.get("encoders", [])
    gt = prov.get("gt_resolution_hw") or ["?", "?"]
    lines = [
        "<!-- generated by notebooks/08_compare.ipynb (python -m depthutils pipeline); do not edit -->",
        "",
        f"# Results: profile `{prov.get('profile')}` on {prov.get('data')}",
        "",
        f"- Data: {prov.get('data')}; split `{prov.get('split')}` with {prov.get('n_train')} training, "
        f"{prov.get('n_val')} validation (held out of the training split in contiguous blocks) and "
        f"{prov.get('n_test')} test images; stored resolution (W×H) {prov.get('resolution_wh')}, model input "
        f"(H×W) {prov.get('image_size')}.",
        f"- Encoders: {'trained from scratch (no ImageNet weights were loaded)' if enc == ['scratch'] else enc}. "
        f"Precision: {', '.join(prov.get('precision', []))}.",
        f"- Hardware: {'; '.join(prov.get('device', []))}. Total training time of the rows: "
        f"{prov.get('train_time_min', 0):.0f} min. Versions: {prov.get('versions')}. Commit(s): "
        f"{prov.get('git_commit')}.",
        "- Every row is its run's last epoch (best.pt, chosen on the validation subset, is not used here).",
        "- Baselines: image-blind predictors fitted on the training split (the mean depth map, and one constant, "
        "the median depth), scored by the same code on the same test images. A row that does not beat them has "
        "not learnt depth from the image.",
        "",
        "## The report's table (its Figure 2), rebuilt",
        "",
        "Report protocol: the test image and its ground truth resized to the model input, metrics at that "
        "resolution, no crop, no flip TTA. L1 and MSE on normalised depth in both readings of the report: "
        "`÷10 m` divides both maps by the 10 m maximum; `per image` maps both by the ground truth's own min–max.",
        "",
        to_markdown(*report_table(rows)),
        "## Standard metrics",
        "",
        f"Standard protocol: prediction at the model input, upsampled bilinearly to the ground truth's "
        f"{gt[0]}×{gt[1]}, Eigen crop, valid depth in (1e-3, 10] m, per-image means, flip TTA "
        f"{'on' if prov.get('flip_tta') else 'off'} for the models (off for the image-blind baselines). "
        "Brackets: 95% bootstrap intervals over test images; two rows differ only where their intervals do not "
        "overlap. ε_acc: depth-boundary accuracy at the model's resolution (pixels, truncated at 10).",
        "",
        to_markdown(*standard_table(rows)),
    ]
    for title, fig in figures.items():
        link = Path(os.path.relpath(Path(fig).resolve(), path.parent.resolve()))
        lines += [f"## {title}", "", f"![{title}]({link.as_posix()})", ""]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def find_best_checkpoint(roots: list[str | Path]) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint of the best row (standard-protocol δ1) of the most recent study run under ``roots``.

    A study run is a folder of row folders that hold results.json (a pipeline's ``OUT/runs``); the most recent is
    the one whose newest results.json is newest. Rows whose checkpoint file is not on this machine are skipped
    (checkpoints are never committed). Returns (checkpoint path, results) or None.
    """
    runs_dirs = {p.parent.parent for root in map(Path, roots) for p in root.glob("**/results.json")}
    best_dir, newest = None, -1.0
    for d in runs_dirs:
        stamps = [p.stat().st_mtime for p in d.glob("*/results.json") if (p.parent / "last.pt").exists()]
        if stamps and max(stamps) > newest:
            best_dir, newest = d, max(stamps)
    if best_dir is None:
        return None
    rows = []
    for p in best_dir.glob("*/results.json"):
        res = json.loads(p.read_text())
        ck = p.parent / res.get("checkpoint", "last.pt")
        d1 = (res.get("protocols", {}).get("standard", {}) or {}).get("delta1")
        if ck.exists() and d1 is not None:
            rows.append((d1, ck, res))
    if not rows:
        return None
    _, ck, res = max(rows, key=lambda r: r[0])
    return ck, res


#: The metrics of paired comparisons: (key, label, decimals).
PAIRED_KEYS = (("delta1", "δ1", 3), ("abs_rel", "AbsRel", 3), ("rmse", "RMSE [m]", 3), ("l1_global", "L1 ÷10 m", 4))


def paired_table(a: dict, b: dict, names: tuple[str, str], protocol: str = "standard") -> str:
    """Two runs on the same test images: each metric for ``a`` and ``b`` with its 95% interval, and the paired
    per-image difference b − a with its interval (which is much narrower than either run's own: image
    difficulty cancels). Markdown."""
    from .metrics import bootstrap_ci

    lines = [f"| metric | {names[0]} | {names[1]} | {names[1]} − {names[0]} (paired) |", "|---|---|---|---|"]
    for key, label, nd in PAIRED_KEYS:
        cells = [_ci(r["protocols"][protocol], key, nd) for r in (a, b)]
        pa, pb = (np.asarray(r["per_image"][protocol][key], float) for r in (a, b))
        lo, hi = bootstrap_ci(pb - pa)
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {np.mean(pb - pa):+.{nd}f} [{lo:+.{nd}f}, {hi:+.{nd}f}] |")
    return "\n".join(lines) + "\n"
