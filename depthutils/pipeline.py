"""The whole study as one resumable job: every notebook in order through papermill.

Profiles (notebook parameters are TrainConfig field names; everything a profile does not set is TrainConfig's
default, e.g. the learning rate and schedule chosen by the sweep in docs/CHOICES.md):

- ``smoke``: seconds per notebook, for tests and CI;
- ``cpu``: a quick look on a 2-core CPU: 64×64, the first 256 training and 128 test images, the report's epochs ÷ 10;
- ``report``: the report's schedule: 128×128, batch 64, every training image, the report's epochs per row,
  encoders from scratch; runs on a CPU (hours, bf16) and on a GPU (minutes).

Every profile trains the eight rows of the report's table on the official split, and two more rows:
ResNet UNet (L1) on the report's random 1111/338 split, which measures how much that split's neighbouring frames
flatter the numbers; and ResNetE Decoder v3 at a 4:3 input of 96×128, whose training crops and test images keep
NYU's aspect ratio, beside its 128×128 row whose square training crops meet squeezed test frames.

Resuming: ``OUT/pipeline.json`` records the profile, data and the notebooks finished. Running the same command
again skips finished notebooks, continues an interrupted row from its ``last.pt`` and runs the comparison at the
end; a different profile or data for the same OUT is refused, naming the difference.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

from ._io import write_json_atomic
from .config import REPORT_ROWS
from .data.dataset import SYNTHETIC, resolve_data

__all__ = ["PROFILES", "Job", "jobs", "run_pipeline", "train_row", "pipeline_status", "NOTEBOOK_DIR"]

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"  # the repository's notebooks

#: Per-profile settings. ``epoch_divisor`` scales the report's schedule (0: one epoch per row).
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        image_size="64",
        batch_size=4,
        limit=8,
        test_limit=4,
        epoch_divisor=0,
        pretrained="false",
        synth_count=24,
        synth_size="64x96",
        n_examples=2,
    ),
    "cpu": dict(
        image_size="64",
        batch_size=16,
        limit=256,
        test_limit=128,
        epoch_divisor=10,
        pretrained="false",
        synth_count=1449,
        synth_size="192x256",
        n_examples=4,
    ),
    "report": dict(
        image_size="128",
        batch_size=64,
        limit=None,
        test_limit=None,
        epoch_divisor=1,
        pretrained="false",
        synth_count=1449,
        synth_size="192x256",
        n_examples=6,
    ),
}

_TRAIN_NB = {
    "resnete_decoder_v1": "02_resnete_decoder_v1",
    "resnete_decoder_v2": "03_resnete_decoder_v2",
    "resnete_decoder_v3": "04_resnete_decoder_v3",
    "resnet_unet": "05_resnet_unet",
    "de_noskip": "06_de_noskip",
    "densenet_unet": "07_densenet_unet",
}
#: The extra rows: (run folder, title, report row it varies, parameters it changes).
EXTRA_JOBS = [
    ("resnet_unet_report_split", "ResNet UNet, L1 loss (report split)", "resnet_unet", {"split": "report"}),
    (
        "resnete_decoder_v3_aspect",
        "ResNetE Decoder v3, 96x128 (aspect kept)",
        "resnete_decoder_v3",
        {"image_size": "96x128"},
    ),
]


class Job(dict):
    """One notebook run: ``notebook`` (source name), ``name`` (executed copy), ``params``, ``run`` (run folder of
    a training row, else None) and ``epochs`` (of that row)."""


def _epochs(report_epochs: int, divisor: int) -> int:
    return 1 if divisor == 0 else max(1, round(report_epochs / divisor + 1e-9))


def jobs(
    profile: str, data: str, gt_data: str | None, out: Path, figures: Path, tables: Path, precision: str = "auto"
) -> list[Job]:
    """The notebooks in run order: data, the 8 table rows, the 2 extra rows, comparison."""
    p = PROFILES[profile]
    common = {
        "data": data,
        "image_size": p["image_size"],
        "profile": profile,
        "synth_count": p["synth_count"],
        "synth_size": p["synth_size"],
        "figures_dir": str(figures),
    }
    todo = [Job(notebook="01_data_exploration", name="01_data_exploration", params=dict(common), run=None)]
    rows = [(r.run_name, r.title, r, {}) for r in sorted(REPORT_ROWS, key=lambda r: _TRAIN_NB[r.model])]
    rows += [
        (run, title, next(r for r in REPORT_ROWS if r.run_name == base), change)
        for run, title, base, change in EXTRA_JOBS
    ]
    for run_name, title, row, change in rows:
        nb = _TRAIN_NB[row.model]
        run = out / "runs" / run_name
        ep = _epochs(row.epochs, p["epoch_divisor"])
        name = f"{nb}_{row.loss}" if row.model == "resnet_unet" else nb
        todo.append(
            Job(
                notebook=nb,
                name=name + run_name[len(row.run_name) :],
                run=str(run),
                epochs=ep,
                params={
                    **common,
                    "model": row.model,
                    "resume": True,  # an interrupted row continues from its last.pt; a finished one is kept
                    "run_dir": str(run),
                    "row_title": title,
                    "loss": row.loss,
                    "epochs": ep,
                    "batch_size": p["batch_size"],
                    "limit": p["limit"],
                    "test_limit": p["test_limit"],
                    "pretrained": p["pretrained"],
                    "gt_data": gt_data,
                    "precision": precision,
                    "split": "official",
                    **change,
                },
            )
        )
    todo.append(
        Job(
            notebook="08_compare",
            name="08_compare",
            run=None,
            params={
                "runs_dir": str(out / "runs"),
                "figures_dir": str(figures),
                "tables_path": str(tables),
                "n_examples": p["n_examples"],
                "profile": profile,
            },
        )
    )
    return todo


def _tag(profile: str, data: str) -> str:
    kind = "synthetic" if data == SYNTHETIC else "nyu" if "nyu" in data.lower() else "real"
    return f"{profile}-{kind}"


def _row_finished(job: Job) -> bool:
    if job["run"] is None:
        return False
    p = Path(job["run"]) / "results.json"
    return p.exists() and json.loads(p.read_text()).get("epochs") == job["epochs"]


def _read_state(path: Path) -> dict[str, Any]:
    """A pipeline.json, checked: readable JSON with the keys a resume needs and a known profile."""
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not readable pipeline state ({e}); restore it, or give another --out") from e
    missing = [k for k in ("profile", "data", "done", "seconds") if k not in state] if isinstance(state, dict) else []
    if not isinstance(state, dict) or missing:
        raise ValueError(f"{path} lacks {missing or 'its fields'}; restore it, or give another --out")
    if state["profile"] not in PROFILES:
        raise ValueError(f"{path} names an unknown profile {state['profile']!r}; valid: {', '.join(PROFILES)}")
    return state


def default_out(profile: str, data: str | None = None) -> Path:
    """Where ``pipeline --profile PROFILE --data DATA`` writes when no --out is given."""
    return _paths(profile, data, None, None, None, None)[2]


def _paths(profile: str, data: str | None, gt_data: str | None, out, figures, tables) -> tuple:
    """Resolved (data, gt_data, out, figures, tables) of a pipeline run; defaults relative to the working directory."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    data = resolve_data(data)
    data = data if data == SYNTHETIC else str(Path(data).expanduser().resolve())
    gt_data = str(Path(gt_data).expanduser().resolve()) if gt_data else None
    tag = _tag(profile, data)
    out = Path(out or (Path("runs") / tag if profile == "smoke" else Path("results") / tag)).resolve()
    smoke = profile == "smoke"
    figures = Path(figures or (out / "figures" if smoke else Path("figures") / tag)).resolve()
    tables = Path(tables or (out / "tables.md" if smoke else Path("report") / "generated" / f"{tag}.md")).resolve()
    return data, gt_data, out, figures, tables


def train_row(
    *,
    profile: str,
    row: str,
    data: str | None = None,
    gt_data: str | None = None,
    out: str | Path | None = None,
    precision: str = "auto",
) -> dict[str, Any]:
    """Train one row of a profile without its notebook, as the notebook would (same configuration, same run
    folder, resumable). Under ``torchrun`` this trains the row with DDP; running the pipeline afterwards finds the
    row finished and only executes its notebook's plots."""
    from .config import TrainConfig
    from .train import fit

    data, gt_data, out, figures, tables = _paths(profile, data, gt_data, out, None, None)
    todo = [j for j in jobs(profile, data, gt_data, out, figures, tables, precision) if j["run"]]
    job = next((j for j in todo if Path(j["run"]).name == row), None)
    if job is None:
        raise ValueError(f"no row {row!r} in profile {profile!r}; rows: {', '.join(Path(j['run']).name for j in todo)}")
    p = job["params"]
    cfg = TrainConfig.from_dict({**p, "extra": {"profile": profile, "row": p["row_title"]}})
    return fit(cfg, p["run_dir"], resume=True, progress=True)


def run_pipeline(
    *,
    profile: str = "cpu",
    data: str | None = None,
    gt_data: str | None = None,
    out: str | Path | None = None,
    only: str | None = None,
    precision: str = "auto",
    figures: str | Path | None = None,
    tables: str | Path | None = None,
) -> int:
    """Run (or resume) the notebooks; returns 0, or 1 naming the notebook and cell that failed.

    Outputs (relative to the working directory unless given): ``OUT/notebooks/*.ipynb`` (executed),
    ``OUT/runs/<row>/`` (history, config, results, checkpoints), ``OUT/pipeline.json``; figures and the generated
    tables go to ``figures/<tag>/`` and ``report/generated/<tag>.md`` (tag = profile-data kind), inside OUT for
    the smoke profile.
    """
    import papermill as pm

    data, gt_data, out, figures, tables = _paths(profile, data, gt_data, out, figures, tables)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)

    state_path = out / "pipeline.json"
    want = {"profile": profile, "data": data, "gt_data": gt_data, "precision": precision, "settings": PROFILES[profile]}
    state = _read_state(state_path) if state_path.exists() else {**want, "done": [], "seconds": {}}
    diff = [f"{k}: {state.get(k)!r} there, {v!r} asked" for k, v in want.items() if state.get(k) != v]
    if diff:
        raise ValueError(
            f"{out} holds a pipeline run with other settings ({'; '.join(diff)}). Resume it with "
            f"those, or give another --out."
        )
    write_json_atomic(state_path, state)

    todo = jobs(profile, data, gt_data, out, figures, tables, precision)
    if only:
        keep = tuple(only.split(","))
        todo = [j for j in todo if j["name"].startswith(keep) or j["notebook"].startswith(keep)]
    print(f"pipeline: profile {profile}, data {data}, {len(todo)} notebooks → {out}", flush=True)
    t_all = time.perf_counter()
    for k, job in enumerate(todo, 1):
        name = job["name"]
        finished = name in state["done"] and (job["run"] is None or _row_finished(job))
        if finished and job["notebook"] != "08_compare":
            print(f"[{k}/{len(todo)}] {name}: done earlier, skipped", flush=True)
            continue
        t0 = time.perf_counter()
        print(f"[{k}/{len(todo)}] {name} …", flush=True)
        target = out / "notebooks" / f"{name}.ipynb"
        try:
            pm.execute_notebook(
                str(NOTEBOOK_DIR / f"{job['notebook']}.ipynb"),
                str(target),
                parameters=job["params"],
                kernel_name="python3",
                cwd=str(NOTEBOOK_DIR),
                progress_bar=False,
                log_output=False,
            )
        except pm.PapermillExecutionError as e:
            print(
                f"FAILED: notebook {job['notebook']}.ipynb ({name}), cell {e.cell_index} (execution count "
                f"{e.exec_count}): {e.ename}: {e.evalue}\nThe executed notebook with the traceback is {target}",
                file=sys.stderr,
            )
            return 1
        _strip_paths(target, out)
        state["seconds"][name] = state["seconds"].get(name, 0.0) + time.perf_counter() - t0
        state["done"] = sorted(set(state["done"]) | {name})
        write_json_atomic(state_path, state)
        print(f"[{k}/{len(todo)}] {name} done in {time.perf_counter() - t0:.0f} s", flush=True)
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    state.update(
        total_seconds=sum(state["seconds"].values()),
        peak_kernel_rss_gb=max(peak_gb, state.get("peak_kernel_rss_gb", 0.0)),
    )
    write_json_atomic(state_path, state)
    print(
        f"pipeline done in {(time.perf_counter() - t_all) / 60:.1f} min this time, "
        f"{state['total_seconds'] / 60:.1f} min of notebooks in all (largest kernel peak RSS "
        f"{state['peak_kernel_rss_gb']:.2f} GB); tables: {tables}"
    )
    return 0


def _strip_paths(nb_path: Path, out: Path) -> None:
    """Executed copies carry no absolute paths of the machine that ran them: OUT and the repository root
    become relative placeholders in the parameters papermill injected."""
    text = nb_path.read_text()
    for base, name in ((out, "$OUT"), (Path.cwd(), "."), (Path.cwd().parent, "..")):
        text = text.replace(str(base), name)
    nb_path.write_text(text)


def pipeline_status(out: str | Path) -> int:
    """Print each row's epochs done out of its total and an ETA from the measured throughput."""
    from .run_folder import read_history

    out = Path(out)
    state_path = out / "pipeline.json"
    if not state_path.exists():
        print(f"{out}: no pipeline run here (no pipeline.json)")
        return 1
    state = _read_state(state_path)
    todo = jobs(
        state["profile"], state["data"], state.get("gt_data"), out, Path("."), Path("."), state.get("precision", "auto")
    )
    rates: dict[str, float] = {}  # model → seconds per epoch, measured
    rows = []
    for job in todo:
        if job["run"] is None:
            continue
        run = Path(job["run"])
        hist = read_history(run / "history.csv") if (run / "history.csv").exists() else []
        model = job["notebook"][3:]
        if hist:
            rates[model] = sum(h["epoch_time_s"] for h in hist) / len(hist) * 1.08  # + evaluation
        rows.append((job["name"], model, len(hist), job["epochs"], _row_finished(job)))
    known = list(rates.values())
    eta = 0.0
    print(f"pipeline {out} (profile {state['profile']}):")
    for name, model, done, total, finished in rows:
        per = rates.get(model, sum(known) / len(known) if known else float("nan"))
        left = 0.0 if finished else (total - done) * per
        eta += left
        mark = "finished" if finished else "no epoch timed yet" if math.isnan(left) else f"~{left / 60:.0f} min left"
        print(f"  {name:36s} {done:4d}/{total:<4d} epochs  {mark}")
    if math.isnan(eta):  # no row has finished an epoch, so there is no throughput to extrapolate from
        print("ETA: unknown until a row has trained one epoch")
        return 0
    print(
        f"ETA: {eta / 3600:.1f} h for the rows left (from the measured epoch times; "
        f"the comparison notebook adds a few minutes)"
    )
    return 0
