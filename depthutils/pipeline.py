"""The whole study as one resumable job: every notebook in order through papermill.

Profiles and rows come from the study manifest (:mod:`depthutils.study`): ``smoke`` (seconds per notebook, for
tests and CI), ``cpu`` (a quick look on a 2-core CPU) and ``report`` (the report's schedule, hours on a CPU, minutes
on a GPU). Every profile trains the report's eight rows on the official split and the manifest's extra rows. A
training notebook receives its row's name and the profile; it builds the row's configuration from the manifest
(:func:`depthutils.study.train_config`), so the settings are declared once.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import study
from ._io import write_json_atomic
from .data.dataset import SYNTHETIC, resolve_data
from .study import PROFILES, Row, get_profile, pipeline_rows, train_config

if TYPE_CHECKING:
    from .run_folder import Results

__all__ = ["Job", "jobs", "run_pipeline", "train_row", "pipeline_status", "NOTEBOOK_DIR"]

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"  # the repository's notebooks


@dataclass
class Job:
    """One notebook run: the ``notebook`` (source name), the executed copy's ``name``, its papermill ``params``,
    and for a training row its manifest ``row``, run folder ``run`` and ``epochs``."""

    notebook: str
    name: str
    params: dict[str, Any]
    row: Row | None = None
    run: Path | None = None
    epochs: int | None = None


def jobs(
    profile: str, data: str, gt_data: str | None, out: Path, figures: Path, tables: Path, precision: str = "auto"
) -> list[Job]:
    """The notebooks in run order: data, the training rows of the manifest, comparison."""
    p = get_profile(profile)
    todo = [
        Job(
            "01_data_exploration",
            "01_data_exploration",
            {"data": data, "profile": profile, "figures_dir": str(figures)},
        )
    ]
    for row in pipeline_rows():
        run = out / "runs" / row.name
        params = {
            "row": row.name,
            "profile": profile,
            "data": data,
            "gt_data": gt_data,
            "run_dir": str(run),
            "figures_dir": str(figures),
            "resume": True,  # an interrupted row continues from its last.pt; a finished one is kept
            "overrides": {"precision": precision},
        }
        todo.append(Job(row.notebook or "", row.executed_name, params, row, run, p.epochs(row.epochs)))
    compare = {"runs_dir": str(out / "runs"), "figures_dir": str(figures), "tables_path": str(tables)}
    todo.append(Job("08_compare", "08_compare", {**compare, "n_examples": p.n_examples, "profile": profile}))
    return todo


def _tag(profile: str, data: str) -> str:
    kind = "synthetic" if data == SYNTHETIC else "nyu" if "nyu" in data.lower() else "real"
    return f"{profile}-{kind}"


def _row_finished(job: Job) -> bool:
    if job.run is None:
        return False
    p = job.run / "results.json"
    return p.exists() and json.loads(p.read_text()).get("epochs") == job.epochs


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


def _paths(
    profile: str, data: str | None, gt_data: str | None, out, figures, tables
) -> tuple[str, str | None, Path, Path, Path]:
    """Resolved (data, gt_data, out, figures, tables) of a pipeline run; defaults relative to the working directory."""
    get_profile(profile)  # an unknown profile is refused, naming the nearest
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
) -> Results | None:
    """Train one row of a profile without its notebook, as the notebook would (same configuration, same run
    folder, resumable). Under ``torchrun`` this trains the row with DDP; running the pipeline afterwards finds the
    row finished and only executes its notebook's plots."""
    from .train import fit

    data, gt_data, out, _, _ = _paths(profile, data, gt_data, out, None, None)
    names = [r.name for r in pipeline_rows()]
    if row not in names:
        tool = next((r.trained_by for r in study.ROWS if r.name == row), None)
        why = f"it is trained by {tool}, not by the pipeline" if tool else f"no row {row!r} in profile {profile!r}"
        raise ValueError(f"{why}; rows: {', '.join(names)}")
    cfg = train_config(row, profile, data=data, gt_data=gt_data, precision=precision)
    return fit(cfg, out / "runs" / row, resume=True, progress=True)


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
    data, gt_data, out, figures, tables = _paths(profile, data, gt_data, out, figures, tables)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    state_path = out / "pipeline.json"
    want = {
        "profile": profile,
        "data": data,
        "gt_data": gt_data,
        "precision": precision,
        "settings": get_profile(profile).state(),
    }
    state = _start_state(state_path, want)

    todo = jobs(profile, data, gt_data, out, figures, tables, precision)
    if only:
        keep = tuple(only.split(","))
        todo = [j for j in todo if j.name.startswith(keep) or j.notebook.startswith(keep)]
    for job in todo:
        _check_parameters(job)
    print(f"pipeline: profile {profile}, data {data}, {len(todo)} notebooks → {out}", flush=True)
    t_all = time.perf_counter()
    for k, job in enumerate(todo, 1):
        name = job.name
        finished = name in state["done"] and (job.run is None or _row_finished(job))
        if finished and job.notebook != "08_compare":
            print(f"[{k}/{len(todo)}] {name}: done earlier, skipped", flush=True)
            continue
        t0 = time.perf_counter()
        print(f"[{k}/{len(todo)}] {name} …", flush=True)
        if not _execute(job, out):
            return 1
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


def _start_state(path: Path, want: dict[str, Any]) -> dict[str, Any]:
    """The run's state: a fresh one, or the one at ``path`` when it was started with the same settings (a resume);
    other settings for the same OUT are refused, naming each difference."""
    state = _read_state(path) if path.exists() else {**want, "done": [], "seconds": {}}
    diff = [f"{k}: {state.get(k)!r} there, {v!r} asked" for k, v in want.items() if state.get(k) != v]
    if diff:
        raise ValueError(
            f"{path.parent} holds a pipeline run with other settings ({'; '.join(diff)}). Resume it with "
            f"those, or give another --out."
        )
    write_json_atomic(path, state)
    return state


def _execute(job: Job, out: Path) -> bool:
    """Run one notebook through papermill into ``OUT/notebooks``; False (the failing cell named) on an error."""
    import papermill as pm

    target = out / "notebooks" / f"{job.name}.ipynb"
    try:
        pm.execute_notebook(
            str(NOTEBOOK_DIR / f"{job.notebook}.ipynb"),
            str(target),
            parameters=job.params,
            kernel_name="python3",
            cwd=str(NOTEBOOK_DIR),
            progress_bar=False,
            log_output=False,
        )
    except pm.PapermillExecutionError as e:
        print(
            f"FAILED: notebook {job.notebook}.ipynb ({job.name}), cell {e.cell_index} (execution count "
            f"{e.exec_count}): {e.ename}: {e.evalue}\nThe executed notebook with the traceback is {target}",
            file=sys.stderr,
        )
        return False
    _strip_paths(target, out)
    return True


def _check_parameters(job: Job) -> None:
    """Every parameter the pipeline passes is one the notebook declares: papermill would only warn about an unknown
    one and run on with the default, so a renamed parameter would silently change a row."""
    import papermill as pm

    declared = list(pm.inspect_notebook(str(NOTEBOOK_DIR / f"{job.notebook}.ipynb")))
    unknown = [k for k in job.params if k not in declared]
    if unknown:
        raise ValueError(
            f"notebook {job.notebook}.ipynb has no parameter {', '.join(map(repr, unknown))}; it declares "
            f"{', '.join(declared)}"
        )


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
        if job.run is None or job.row is None:
            continue
        hist = read_history(job.run / "history.csv") if (job.run / "history.csv").exists() else []
        model = job.row.model
        if hist:
            # + evaluation; every row of history.csv has its epoch time
            rates[model] = sum(cast(float, h["epoch_time_s"]) for h in hist) / len(hist) * 1.08
        rows.append((job.name, model, len(hist), job.epochs or 0, _row_finished(job)))
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
