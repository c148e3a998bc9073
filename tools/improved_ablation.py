"""The improved row's recipe, chosen on the validation subset: a ladder of changes to the report's recipe, each
trained for a short schedule and scored on validation only (the test images play no part in the choice).

    python tools/improved_ablation.py --data ../shared/data/nyu_v2_labeled_256x192 --out runs/ablation
    python tools/improved_ablation.py ... --only A0,A1          # some steps
    python tools/improved_ablation.py ... --table report/generated/improved-ablation.md   # the table of what is done
    python tools/improved_ablation.py ... --final 200 --gt-data ../shared/data/nyu_v2_labeled \
        --final-out results/report-nyu/runs/improved          # the chosen recipe, long schedule

Each step adds one change to the best recipe so far. A step is scored on the 80 validation images under the
standard protocol (its last epoch's prediction upsampled to the stored ground truth, Eigen crop, flip TTA), so
that steps with different input sizes are scored alike; it is kept when it lowers the validation AbsRel. One seed
per step: the table gives each step's paired difference to the recipe it was added to, with its 95% bootstrap
interval over the validation images, so a step kept by less than the noise shows as such. The last step
pretrains on the synthetic rooms (the current recipe on rendered scenes, into STEP-pretrain/) and fine-tunes on
NYU from those weights. Finished steps are reused; an interrupted one resumes.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

from depthutils._io import write_json_atomic, write_text_atomic
from depthutils.baselines import BASELINES, baseline_models
from depthutils.config import TrainConfig
from depthutils.data.dataset import load_data
from depthutils.engine import DeviceData, evaluate, resolve_precision
from depthutils.metrics import bootstrap_diff_ci
from depthutils.run_folder import load_checkpoint, model_from_checkpoint, read_history
from depthutils.train import fit

#: The synthetic pretraining of the last step: rendered rooms at the stored size of the NYU copy, and epochs.
PRETRAIN = {"synth_count": 4000, "synth_size": (192, 256), "epochs": 10}

#: What a step is judged on (validation, standard protocol; lower is better) and what the table shows.
CRITERION = "abs_rel"
VAL_METRICS = ("delta1", "abs_rel", "rmse")

#: (step, what changes, the TrainConfig fields it sets). Applied in order on top of the best recipe so far.
LADDER = [
    ("A0", "the report's recipe (128×128 squeezed test frames, batch 64, L1, ReLU head)", {}),
    ("A1", "ResNetE Decoder v3 (ResNet-34 encoder) in place of DenseNet UNet", {"model": "resnete_decoder_v3"}),
    ("A2", "4:3 input 96×128 (aspect kept in training and test)", {"image_size": "96x128"}),
    ("A3", "batch 16", {"batch_size": 16}),
    ("A4", "SILog + 0.5·gradient loss, log-depth (exp) head", {"loss": "silog+0.5*gradient", "head": "exp"}),
    (
        "A5",
        "AdamW, weight decay 1e-2, 2 warm-up epochs",
        {"optimizer": "adamw", "weight_decay": 0.01, "warmup_epochs": 2},
    ),
    ("A6", "gamma and colour jitter", {"augment": "color"}),
    ("A7", "scale augmentation s ∈ [0.75, 1], depth × s", {"scale_aug": (0.75, 1.0)}),
    (
        "A8",
        f"pretrained on {PRETRAIN['synth_count']} synthetic rooms ({PRETRAIN['epochs']} epochs)",
        {"pretrain": True},
    ),
]


def _config(a: argparse.Namespace, recipe: dict, **over) -> TrainConfig:
    """A step's settings: validation every 5 epochs, a few test images only (the choice never looks at them)."""
    base = dict(model=a.model, data=a.data, split="official", epochs=a.epochs, pretrained=False, eval_every=5)
    return TrainConfig(**{**base, "test_limit": 16, **getattr(a, "base", {}), **recipe, **over})


def _steps(a: argparse.Namespace) -> list:
    """The ladder to walk: this module's LADDER, or another tool's (``a.ladder``, e.g. tools/compact_ablation.py)."""
    return getattr(a, "ladder", None) or LADDER


def _teachers(a: argparse.Namespace, step: str, run: bool) -> str:
    """Train (or resume) the teacher ensemble of a distillation step (``a.teacher``: its recipe, seeds and epochs,
    with a synthetic pretraining shared by the seeds when the recipe asks for it); returns its checkpoints, joined
    by commas as ``TrainConfig.teacher`` takes them."""
    spec = a.teacher
    recipe = dict(spec["recipe"])
    if recipe.pop("pretrain", False):
        pre = _config(
            a,
            recipe,
            data="synthetic",
            split="report",
            **_pretrain_settings(a),
            extra={"profile": _profile(a), "step": f"{step}-teacher-pretrain"},
        )
        if run:
            fit(pre, Path(a.out) / f"{step}-teacher-pretrain", resume=True, progress=False)
        recipe["init_from"] = str((Path(a.out) / f"{step}-teacher-pretrain" / "last.pt").resolve())
    paths = []
    for seed in spec["seeds"]:
        out = Path(a.out) / f"{step}-teacher-s{seed}"
        cfg = _config(a, recipe, seed=seed, epochs=spec["epochs"], extra={"profile": _profile(a), "step": out.name})
        if run:
            fit(cfg, out, resume=True, progress=False)
        paths.append(str((out / "last.pt").resolve()))
    return ",".join(paths)


def _profile(a: argparse.Namespace) -> str:
    return getattr(a, "profile", None) or "improved-ablation"


def _pretrain_settings(a: argparse.Namespace) -> dict:
    p = getattr(a, "pretrain", None) or PRETRAIN
    return {"synth_count": p["synth_count"], "synth_size": p["synth_size"], "epochs": p["epochs"]}


def _pretrained(a: argparse.Namespace, step: str) -> str:
    """The checkpoint that the pretraining of ``step`` leaves."""
    return str((Path(a.out) / f"{step}-pretrain" / "last.pt").resolve())


def _step(a: argparse.Namespace, step: str, recipe: dict, change: dict, run: bool) -> Path:
    """Train (or resume) one step; returns its folder. The pretraining step first trains on the synthetic rooms."""
    out = Path(a.out) / step
    change = dict(change)
    if change.pop("teacher", False):
        change["teacher"] = _teachers(a, step, run)
    if change.pop("pretrain", False):
        pre = _config(
            a,
            recipe,
            data="synthetic",
            split="report",  # the synthetic set's own seeded 1111:338 proportion: more scenes train than 795:654
            **_pretrain_settings(a),
            extra={"profile": _profile(a), "step": f"{step}-pretrain"},
        )
        if run:
            fit(pre, Path(a.out) / f"{step}-pretrain", resume=True, progress=False)
        change["init_from"] = _pretrained(a, step)
    if run:
        fit(
            _config(a, {**recipe, **change}, extra={"profile": _profile(a), "step": step}),
            out,
            resume=True,
            progress=False,
        )
    return out


def _validation_data(out: Path, ck: dict) -> tuple[TrainConfig, object]:
    """A step's settings and its data (the same validation images for every step of the ladder)."""
    cfg = TrainConfig.from_dict(ck["config"])
    data = load_data(cfg)
    if not len(data.val):
        raise ValueError(f"{out}: the run has no validation images (val_fraction {cfg.val_fraction}); nothing to score")
    return cfg, data


def _score(model, cfg: TrainConfig, data, image_size, *, flip_tta: bool | None = None) -> dict:
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


def baseline_scores(out: Path) -> dict[str, dict]:
    """The image-blind baselines on the validation images of step ``out`` (see ``score_baselines``)."""
    return score_baselines(*_validation_data(out, load_checkpoint(out / "last.pt")))


def score_baselines(cfg: TrainConfig, data) -> dict[str, dict]:
    """The image-blind baselines on ``data``'s validation images: fitted on its training images only, predicted at
    the stored resolution, flip TTA off (a fixed map gains nothing from it, as in the study)."""
    models = baseline_models(data.depth[data.train], cfg.max_depth)
    return {name: _score(m, cfg, data, tuple(data.depth.shape[-2:]), flip_tta=False) for name, m in models.items()}


def validate(out: Path) -> dict:
    """Validation scores of a finished step's last epoch under the standard protocol, with per-image values.

    Cached in ``out/val_standard.json`` under the checkpoint's checksum, so a retrained step is scored again."""
    ck = load_checkpoint(out / "last.pt")
    cache = out / "val_standard.json"
    if cache.exists():
        held = json.loads(cache.read_text())
        if held.get("state_sha256") == ck.get("state_sha256"):
            return held
    cfg, data = _validation_data(out, ck)
    held = score_checkpoint(ck, cfg, data)
    write_json_atomic(cache, held)
    return held


def score_checkpoint(ck: dict, cfg: TrainConfig, data) -> dict:
    """The validation record of checkpoint ``ck`` scored with settings ``cfg`` on ``data``'s validation images
    (what ``validate`` caches; tools/compact_ship_choice.py scores a final row with a step's settings through it)."""
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


def _epoch_times(a: argparse.Namespace, step: str, change: dict) -> list[list[float]]:
    """The epoch times [s] of each run of a step: the step, its synthetic pretraining, its teachers (and theirs)."""
    folders = [Path(a.out) / step] + ([Path(a.out) / f"{step}-pretrain"] if "pretrain" in change else [])
    if "teacher" in change:
        folders += sorted(Path(a.out).glob(f"{step}-teacher-*"))
    return [
        [r["epoch_time_s"] for r in read_history(f / "history.csv")] for f in folders if (f / "history.csv").exists()
    ]


def _minutes(a: argparse.Namespace, step: str, change: dict) -> float:
    """Training time of a step, its synthetic pretraining and its teachers' training included."""
    return sum(map(sum, _epoch_times(a, step, change))) / 60


def _time_cell(a: argparse.Namespace, step: str, change: dict) -> str:
    """The table's training time [min]. When other work shared the CPU (the sum exceeds the undisturbed time by a
    quarter), the undisturbed time follows in brackets: each run's epochs at the median of its undisturbed epochs,
    those within 1.5× of its fastest."""
    runs = [t for t in _epoch_times(a, step, change) if t]
    total = sum(map(sum, runs)) / 60
    calm = sum(len(t) * statistics.median([x for x in t if x <= 1.5 * min(t)]) for t in runs) / 60
    return f"{total:.0f}" if total <= 1.25 * calm else f"{total:.0f} ({calm:.0f} undisturbed)"


def ladder(a: argparse.Namespace, *, train: bool) -> tuple[dict, list[str], list[dict]]:
    """Walk the ladder (training the steps asked for when ``train``); returns the chosen recipe, the table rows and
    the validation scores of the steps that are done."""
    recipe: dict = {}
    best: dict | None = None
    rows, scored = [], []
    missing = False  # a step after a missing one would build on an undecided recipe: it is not trained
    for step, what, change in _steps(a):
        run = train and not missing and (a.only is None or step in a.only.split(","))
        out = _step(a, step, recipe, change, run)
        if missing or not (out / "results.json").exists():
            missing = True
            rows.append(f"| {step} | {what} | not run | – | – | – | – | – |")
            continue
        v = validate(out)
        scored.append(v)
        if best is None:
            kept, delta = True, "–"
        else:
            d, lo, hi = bootstrap_diff_ci(best["per_image"][CRITERION], v["per_image"][CRITERION], paired=True)
            kept = v[CRITERION] < best[CRITERION]
            delta = f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        if kept:
            applied = dict(change)
            if applied.pop("pretrain", False):
                applied["init_from"] = _pretrained(a, step)
            if applied.pop("teacher", False):
                applied["teacher"] = _teachers(a, step, run=False)
            recipe, best = {**recipe, **applied}, v
        rows.append(
            f"| {step} | {what} | {'yes' if kept else 'no'} | {v['delta1']:.3f} | {v['abs_rel']:.3f} | {delta} | "
            f"{v['rmse']:.3f} | {_time_cell(a, step, change)} |"
        )
    return recipe, rows, scored


def table(a: argparse.Namespace, rows: list[str], recipe: dict, scored: list[dict], extra: str = "") -> str:
    """The Markdown table with what it measured: data, split, protocol, precision, pretraining; under the steps,
    the image-blind baselines on the same validation images."""
    base = baseline_scores(Path(a.out) / _steps(a)[0][0]) if scored else {}
    baselines = [
        f"| – | {BASELINES[name]} | – | {v['delta1']:.3f} | {v['abs_rel']:.3f} | – | {v['rmse']:.3f} | – |"
        for name, v in base.items()
    ]
    head = [
        f"Ladder from {a.model}, {a.epochs} epochs a step, one seed, trained from scratch (no ImageNet weights) on "
        f"the official split's {scored[0]['n_train'] if scored else '?'} training images of "
        f"`{Path(str(a.data)).name}`, precision {scored[0]['protocol']['precision'] if scored else '?'}. Scored on the "
        f"{len(scored[0]['val_indices']) if scored else '?'} validation images (never the test set) under the "
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
        *rows,
        *baselines,
        *([extra] if extra else []),
        "",
        f"Chosen recipe: {json.dumps({'model': a.model, **recipe}, ensure_ascii=False)}.",
    ]
    return "\n".join(head) + "\n"


def parser(description: str, *, model: str, final_out: str) -> argparse.ArgumentParser:
    """The command line of a ladder tool (this one and tools/compact_ablation.py)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default=model)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--only", default=None)
    ap.add_argument("--table", metavar="PATH", default=None, help="write the table of what is done (no training)")
    ap.add_argument("--final", type=int, default=None, help="train the chosen recipe for this many epochs")
    ap.add_argument("--gt-data", default=None, help="full-resolution ground truth for the final row")
    ap.add_argument("--final-out", default=final_out)
    return ap


def run(a: argparse.Namespace, *, final_profile: str, extra_rows: Callable[[list[dict]], str] | None = None) -> None:
    """Walk the ladder (training what is missing, unless only a table or the final row is asked for), print and
    optionally write its table (``extra_rows`` of the scored steps under the baselines), and train the final row
    with the chosen recipe when ``--final`` is given."""
    recipe, rows, scored = ladder(a, train=a.table is None and a.final is None)
    undecided = [step for step, _, _ in _steps(a)[len(scored) :]]  # the ladder scores its steps in order
    if a.final and undecided:  # the recipe would stop at the last finished step: not the ladder's choice
        raise SystemExit(
            f"--final: the ladder in {a.out} has not run {', '.join(undecided)}, so its recipe is not decided. Walk "
            "the ladder first (the same command without --final), or retrain a shipped model from its card "
            "(python -m depthutils retrain NAME)."
        )
    text = table(a, rows, recipe, scored, extra_rows(scored) if extra_rows else "")
    print(text)
    if a.table:
        write_text_atomic(a.table, text)
    if a.final:
        base = dict(model=a.model, data=a.data, gt_data=a.gt_data, split="official", epochs=a.final, pretrained=False)
        extra = {"profile": final_profile, "recipe": f"tools/{_profile(a).replace('-', '_')}.py"}
        cfg = TrainConfig(**{**base, **getattr(a, "base", {}), **recipe, "extra": extra})
        fit(cfg, Path(a.final_out), resume=True, progress=True)


def main() -> None:
    ap = parser(__doc__.splitlines()[0], model="densenet_unet", final_out="results/report-nyu/runs/improved")
    a = ap.parse_args()
    run(a, final_profile="improved")


if __name__ == "__main__":
    main()
