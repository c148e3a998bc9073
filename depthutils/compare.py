"""Collecting training results into the report's tables (its Figure 2) and the standard-metric tables."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .config import REPORT_ROWS

__all__ = ["row_dir", "collect_results", "report_table", "standard_table", "to_markdown", "provenance",
           "write_report_tables"]


def row_dir(title: str) -> str:
    """Folder name of a table row's run, e.g. 'ResNet UNet, BerHu' → 'resnet_unet_berhu'."""
    for t, model, loss, *_ in REPORT_ROWS:
        if t == title:
            return model if loss == "l1" else f"{model}_{loss}"
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")


def collect_results(runs_dir: str | Path, extra_rows: list[str] = ()) -> list[dict[str, Any]]:
    """Each report row with its results.json (or None when that run is missing)."""
    runs_dir = Path(runs_dir)
    rows = []
    for title, model, loss, epochs, l1, mse in REPORT_ROWS:
        p = runs_dir / row_dir(title) / "results.json"
        rows.append({"row": title, "model": model, "loss": loss, "report_epochs": epochs, "report_l1": l1,
                     "report_mse": mse, "results": json.loads(p.read_text()) if p.exists() else None})
    for name in extra_rows:
        p = runs_dir / name / "results.json"
        if p.exists():
            r = json.loads(p.read_text())
            rows.append({"row": f"{r['title']} (improved: {r['config']['loss']})", "model": r["model_name"],
                         "loss": r["config"]["loss"], "report_epochs": None, "report_l1": None, "report_mse": None,
                         "results": r})
    return rows


def _f(v: Any, nd: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def report_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Figure 2 rebuilt: the report's printed L1/MSE beside ours (global ÷ 10 m, and per image)."""
    head = ["row", "report epochs", "our epochs", "report L1", "our L1 (÷10 m)", "report MSE", "our MSE (÷10 m)",
            "our L1 (per image)", "our MSE (per image)"]
    body = []
    for r in rows:
        res = r["results"] or {}
        m = res.get("metrics", {})
        body.append([r["row"], _f(r["report_epochs"]), _f(res.get("epochs")), _f(r["report_l1"]),
                     _f(m.get("l1_global")), _f(r["report_mse"]), _f(m.get("mse_global")),
                     _f(m.get("l1_per_image")), _f(m.get("mse_per_image"))])
    return head, body


def standard_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Standard metrics (metres, Eigen crop), edge sharpness, parameters and training time per row."""
    head = ["row", "δ1 ↑", "δ2 ↑", "AbsRel ↓", "RMSE [m] ↓", "log10 ↓", "SILog ↓", "ε_acc [px] ↓", "ε_comp [px] ↓",
            "depth SSIM ↑", "params [M]", "train time [s]", "encoder"]
    body = []
    for r in rows:
        res = r["results"] or {}
        m = res.get("metrics", {})
        body.append([r["row"], _f(m.get("eigen_delta1"), 3), _f(m.get("eigen_delta2"), 3),
                     _f(m.get("eigen_abs_rel"), 3), _f(m.get("eigen_rmse"), 3), _f(m.get("eigen_log10"), 3),
                     _f(m.get("eigen_silog"), 2), _f(m.get("dbe_acc"), 2), _f(m.get("dbe_comp"), 2),
                     _f(m.get("depth_ssim"), 3),
                     _f(res["model_meta"]["n_params"] / 1e6, 1) if res else "–",
                     _f(res.get("train_time_s"), 0), res.get("pretrained", {}).get("used", "–")])
    return head, body


def to_markdown(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def provenance(rows: list[dict]) -> dict[str, Any]:
    """What the results rest on: data, split, device, pretrained modes, versions, commit (from the results)."""
    got = [r["results"] for r in rows if r["results"]]
    if not got:
        return {}
    first = got[0]
    ds = first["dataset"]
    return {
        "data": f"{ds['name']} ({ds['kind']})", "split": ds["split"], "n_train": ds["n_train"], "n_test": ds["n_test"],
        "resolution": ds.get("resolution_wh"), "image_size": first["config"]["image_size"],
        "device": first["device"], "encoders": sorted({g["pretrained"]["used"] for g in got}),
        "versions": first["versions"], "git_commit": sorted({g["git_commit"] for g in got}),
        "profile": first["config"].get("extra", {}).get("profile"),
    }


def write_report_tables(rows: list[dict], path: str | Path, figures: dict[str, str | Path]) -> Path:
    """The generated part of the report: provenance, Figure 2 rebuilt, standard metrics, figure links."""
    from ._io import write_text_atomic

    path = Path(path)
    prov = provenance(rows)
    enc = prov.get("encoders", [])
    lines = ["<!-- generated by notebooks/08_compare.ipynb (python -m depthutils pipeline); do not edit -->", "",
             f"# Results: profile `{prov.get('profile')}` on {prov.get('data')}", "",
             f"- Data: {prov.get('data')}; split `{prov.get('split')}` with {prov.get('n_train')} training and "
             f"{prov.get('n_test')} test images; stored resolution {prov.get('resolution')}, model input "
             f"{prov.get('image_size')}.",
             f"- Encoders: {'trained from scratch (no ImageNet weights were loaded)' if enc == ['scratch'] else enc}.",
             f"- Hardware: {prov.get('device')}. Versions: {prov.get('versions')}. Commit(s): {prov.get('git_commit')}.",
             "", "## The report's table (its Figure 2), rebuilt", "",
             "L1 and MSE on normalised test depth. `÷10 m` is the global normalisation set beside the report's "
             "printed values; `per image` maps both maps by the ground truth's own min–max.", "",
             to_markdown(*report_table(rows)),
             "## Standard metrics (metres, Eigen crop), edge sharpness, size and time", "",
             "ε_acc / ε_comp: depth-boundary accuracy / completeness in pixels at the model's resolution "
             "(truncated at 10 px). Training time is the sum of the epochs' wall-clock times.", "",
             to_markdown(*standard_table(rows))]
    for title, fig in figures.items():
        link = Path(os.path.relpath(Path(fig).resolve(), path.parent.resolve()))
        lines += [f"## {title}", "", f"![{title}]({link.as_posix()})", ""]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
