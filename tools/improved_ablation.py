"""The improved row's recipe, chosen on the validation subset: a ladder of changes to the report's recipe, each
trained for a short schedule and scored on validation only (the test images play no part in the choice).

    python tools/improved_ablation.py --data ../shared/data/nyu_v2_labeled_256x192 --out runs/ablation
    python tools/improved_ablation.py ... --only A0,A1          # some steps
    python tools/improved_ablation.py ... --table               # print the Markdown table of what is done
    python tools/improved_ablation.py ... --final 200 --gt-data ../shared/data/nyu_v2_labeled \
        --final-out results/report-nyu/runs/improved          # the chosen recipe, long schedule

Each step adds one change to the best recipe so far (a step that does not lower the validation L1 is dropped from
the recipe that follows). One seed per step: a step kept by less than the run-to-run noise is a coin toss, which
the table's validation δ1 and AbsRel help to judge. The last step pretrains on the synthetic rooms (the current
recipe on rendered scenes, into STEP-pretrain/) and fine-tunes on NYU from those weights. Finished steps are
reused; an interrupted one resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depthutils.config import TrainConfig
from depthutils.run_folder import read_history
from depthutils.train import fit

#: The synthetic pretraining of the last step: rendered rooms at the stored size of the NYU copy, and epochs.
PRETRAIN = {"synth_count": 4000, "synth_size": (192, 256), "epochs": 10}

#: (step, what changes, the TrainConfig fields it sets). Applied in order on top of the best recipe so far.
LADDER = [
    ("A0", "the report's recipe (128×128 squeezed test frames, batch 64, L1, ReLU head)", {}),
    ("A1", "4:3 input 96×128 (aspect kept in training and test)", {"image_size": "96x128"}),
    ("A2", "batch 16", {"batch_size": 16}),
    ("A3", "SILog + 0.5·gradient loss, log-depth (exp) head", {"loss": "silog+0.5*gradient", "head": "exp"}),
    (
        "A4",
        "AdamW, weight decay 1e-2, 2 warm-up epochs",
        {"optimizer": "adamw", "weight_decay": 0.01, "warmup_epochs": 2},
    ),
    ("A5", "gamma and colour jitter", {"augment": "color"}),
    ("A6", "scale augmentation s ∈ [0.75, 1], depth × s", {"scale_aug": (0.75, 1.0)}),
    (
        "A7",
        f"pretrained on {PRETRAIN['synth_count']} synthetic rooms ({PRETRAIN['epochs']} epochs)",
        {"pretrain": True},
    ),
]


def _val(out: Path) -> dict:
    rows = [r for r in read_history(out / "history.csv") if r.get("val_l1") is not None]
    return rows[-1]


def _config(a: argparse.Namespace, recipe: dict, **over) -> TrainConfig:
    """A step's settings: validation every 5 epochs, a few test images only (the choice never looks at them)."""
    base = dict(model=a.model, data=a.data, split="official", epochs=a.epochs, pretrained=False, eval_every=5)
    return TrainConfig(**{**base, "test_limit": 16, **recipe, **over})


def _pretrained(a: argparse.Namespace, step: str) -> str:
    """The checkpoint that the pretraining of ``step`` leaves."""
    return str((Path(a.out) / f"{step}-pretrain" / "last.pt").resolve())


def _step(a: argparse.Namespace, step: str, recipe: dict, change: dict, run: bool) -> Path:
    """Train (or resume) one step; returns its folder. The pretraining step first trains on the synthetic rooms."""
    out = Path(a.out) / step
    change = dict(change)
    if change.pop("pretrain", False):
        pre = _config(
            a,
            recipe,
            data="synthetic",
            split="report",  # the synthetic set's own seeded 1111:338 proportion: more scenes train than 795:654
            synth_count=PRETRAIN["synth_count"],
            synth_size=PRETRAIN["synth_size"],
            epochs=PRETRAIN["epochs"],
            extra={"profile": "improved-ablation", "step": f"{step}-pretrain"},
        )
        if run:
            fit(pre, Path(a.out) / f"{step}-pretrain", resume=True, progress=False)
        change["init_from"] = _pretrained(a, step)
    if run:
        fit(
            _config(a, {**recipe, **change}, extra={"profile": "improved-ablation", "step": step}),
            out,
            resume=True,
            progress=False,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="densenet_unet")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--only", default=None)
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--final", type=int, default=None, help="train the chosen recipe for this many epochs")
    ap.add_argument("--gt-data", default=None, help="full-resolution ground truth for the final row")
    ap.add_argument("--final-out", default="results/report-nyu/runs/improved")
    a = ap.parse_args()
    recipe: dict = {}
    best = None
    lines = [
        "| step | change | kept | val L1 (÷10 m) | val δ1 | val AbsRel | train time [min] |",
        "|---|---|---|---|---|---|---|",
    ]
    for step, what, change in LADDER:
        run = not a.table and a.final is None and (a.only is None or step in a.only.split(","))
        out = _step(a, step, recipe, change, run)
        if not (out / "results.json").exists():
            lines.append(f"| {step} | {what} | not run | – | – | – | – |")
            continue
        v = _val(out)
        kept = best is None or v["val_l1"] < best
        if kept:
            applied = dict(change)
            if applied.pop("pretrain", False):
                applied["init_from"] = _pretrained(a, step)
            recipe, best = {**recipe, **applied}, v["val_l1"]
        minutes = sum(r["epoch_time_s"] for r in read_history(out / "history.csv")) / 60
        if "pretrain" in change:
            pre = Path(a.out) / f"{step}-pretrain" / "history.csv"
            minutes += sum(r["epoch_time_s"] for r in read_history(pre)) / 60 if pre.exists() else 0
        lines.append(
            f"| {step} | {what} | {'yes' if kept else 'no'} | {v['val_l1']:.4f} | {v['val_delta1']:.3f} | "
            f"{v['val_abs_rel']:.3f} | {minutes:.0f} |"
        )
    print("\n".join(lines))
    print(f"\nrecipe: model {a.model}, {recipe}")
    if a.final:
        cfg = TrainConfig(
            model=a.model,
            data=a.data,
            gt_data=a.gt_data,
            split="official",
            epochs=a.final,
            pretrained=False,
            extra={"profile": "improved", "recipe": "tools/improved_ablation.py"},
            **recipe,
        )
        fit(cfg, Path(a.final_out), resume=True, progress=True)


if __name__ == "__main__":
    main()
