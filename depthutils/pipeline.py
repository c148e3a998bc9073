"""The main job: every notebook in order through papermill, with the profiles smoke / cpu / full."""
from __future__ import annotations


import resource
import sys
import time
from pathlib import Path
from typing import Any

from .config import REPORT_ROWS
from .compare import row_dir
from .data.dataset import SYNTHETIC, resolve_data

__all__ = ["PROFILES", "jobs", "run_pipeline", "NOTEBOOK_DIR", "REPO"]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"

#: Per-profile notebook parameters. ``epoch_divisor`` scales the report's schedule (50/25/100 epochs).
PROFILES: dict[str, dict[str, Any]] = {
    # seconds per notebook, for tests and CI
    "smoke": dict(image_size=64, batch_size=4, limit=8, test_limit=4, epoch_divisor=0, pretrained="false",
                  synth_count=24, synth_w=96, synth_h=64, n_examples=2),
    # a 2-core CPU: 64×64 images, the first 256 training and 128 test images, the report's epochs ÷ 10
    "cpu": dict(image_size=64, batch_size=16, limit=256, test_limit=128, epoch_divisor=10, pretrained="auto",
                synth_count=1449, synth_w=256, synth_h=192, n_examples=4),
    # the report's schedule at 128×128, batch 64, all images, on a GPU
    "full": dict(image_size=128, batch_size=64, limit=0, test_limit=0, epoch_divisor=1, pretrained="auto",
                 synth_count=1449, synth_w=256, synth_h=192, n_examples=6),
}

_TRAIN_NB = {"resnete_decoder_v1": "02_resnete_decoder_v1", "resnete_decoder_v2": "03_resnete_decoder_v2",
             "resnete_decoder_v3": "04_resnete_decoder_v3", "resnet_unet": "05_resnet_unet",
             "de_noskip": "06_de_noskip", "densenet_unet": "07_densenet_unet"}


def jobs(profile: str, data: str, out: Path, figures: Path, tables: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(notebook, executed-notebook name, parameters) in run order: data, the 8 table rows, comparison."""
    p = PROFILES[profile]
    common = {"data": data, "image_size": p["image_size"], "profile": profile, "synth_count": p["synth_count"],
              "synth_w": p["synth_w"], "synth_h": p["synth_h"]}
    out_jobs = [("01_data_exploration", "01_data_exploration", {**common, "figures_dir": str(figures)})]
    for title, model, loss, epochs, *_ in sorted(REPORT_ROWS, key=lambda r: _TRAIN_NB[r[1]]):
        ep = 1 if p["epoch_divisor"] == 0 else max(1, round(epochs / p["epoch_divisor"] + 1e-9))
        nb = _TRAIN_NB[model]
        out_jobs.append((nb, f"{nb}_{loss}" if model == "resnet_unet" else nb, {
            **common, "run_dir": str(out / "runs" / row_dir(title)), "loss": loss, "epochs": ep,
            "batch_size": p["batch_size"], "limit": p["limit"], "test_limit": p["test_limit"],
            "pretrained": p["pretrained"], "row_title": title, "figures_dir": str(figures)}))
    out_jobs.append(("08_compare", "08_compare", {"runs_dir": str(out / "runs"), "figures_dir": str(figures),
                                                  "tables_path": str(tables), "n_examples": p["n_examples"],
                                                  "profile": profile}))
    return out_jobs


def run_pipeline(*, profile: str = "cpu", data: str | None = None, out: str | Path | None = None,
                 only: str | None = None) -> int:
    """Run the notebooks; returns 0, or 1 naming the notebook and cell that failed.

    Outputs: ``OUT/notebooks/*.ipynb`` (executed), ``OUT/runs/<row>/`` (history, config, results, checkpoints),
    ``OUT/summary.json``; figures and the generated tables go to ``figures/<tag>/`` and
    ``report/generated/<tag>.md`` for the cpu and full profiles (tag = profile-data kind), inside OUT for smoke.
    """
    import papermill as pm

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    data = resolve_data(data)
    kind = "synthetic" if data == SYNTHETIC else "nyu" if "nyu" in data.lower() else "real"
    data = data if data == SYNTHETIC else str(Path(data).expanduser().resolve())
    tag = f"{profile}-{kind}"
    out = Path(out) if out else (REPO / "runs" / tag if profile == "smoke" else REPO / "results" / tag)
    out = out.resolve()
    if profile == "smoke":
        figures, tables = out / "figures", out / "tables.md"
    else:
        figures, tables = REPO / "figures" / tag, REPO / "report" / "generated" / f"{tag}.md"
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    todo = jobs(profile, data, out, figures, tables)
    if only:
        keep = tuple(only.split(","))
        todo = [j for j in todo if j[1].startswith(keep) or j[0].startswith(keep)]
    print(f"pipeline: profile {profile}, data {data}, {len(todo)} notebooks → {out}", flush=True)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    for k, (nb, name, params) in enumerate(todo, 1):
        t0 = time.perf_counter()
        print(f"[{k}/{len(todo)}] {name} …", flush=True)
        target = out / "notebooks" / f"{name}.ipynb"
        try:
            pm.execute_notebook(str(NOTEBOOK_DIR / f"{nb}.ipynb"), str(target), parameters=params,
                                kernel_name="python3", cwd=str(NOTEBOOK_DIR), progress_bar=False,
                                log_output=False)
        except pm.PapermillExecutionError as e:
            print(f"FAILED: notebook {nb}.ipynb ({name}), cell {e.cell_index} (execution count {e.exec_count}): "
                  f"{e.ename}: {e.evalue}\nThe executed notebook with the traceback is {target}", file=sys.stderr)
            return 1
        timings[name] = time.perf_counter() - t0
        print(f"[{k}/{len(todo)}] {name} done in {timings[name]:.0f} s", flush=True)
    total = time.perf_counter() - t_all
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    summary = {"profile": profile, "data": data, "data_kind": kind, "notebook_seconds": timings,
               "total_seconds": total, "peak_kernel_rss_gb": peak_gb, "settings": PROFILES[profile],
               "figures": str(figures), "tables": str(tables)}
    from ._io import write_json_atomic

    write_json_atomic(out / "summary.json", summary)
    print(f"pipeline done in {total / 60:.1f} min (largest kernel peak RSS {peak_gb:.2f} GB); tables: {tables}")
    return 0


