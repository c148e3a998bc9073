"""The improved row's recipe, chosen on the validation subset: a ladder of changes to the report's recipe, each
trained for a short schedule and scored on validation only (the test images play no part in the choice).

    python tools/improved_ablation.py --data ../shared/data/nyu_v2_labeled_256x192 --out runs/ablation
    python tools/improved_ablation.py ... --only A0,A1          # some steps
    python tools/improved_ablation.py ... --table               # print the Markdown table of what is done

Each step adds one change to the best recipe so far (a step that does not lower the validation L1 is dropped from
the recipe that follows). Finished steps are reused; an interrupted one resumes. The final recipe is then trained
for its long schedule into the study's `runs/improved` (see docs/CHOICES.md for the command).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depthutils.config import TrainConfig
from depthutils.run_folder import read_history
from depthutils.train import fit

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
]


def _val(out: Path) -> dict:
    rows = [r for r in read_history(out / "history.csv") if r.get("val_l1") is not None]
    return rows[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="densenet_unet")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--only", default=None)
    ap.add_argument("--table", action="store_true")
    a = ap.parse_args()
    recipe: dict = {}
    best = None
    lines = [
        "| step | change | kept | val L1 (÷10 m) | val δ1 | val AbsRel | train time [min] |",
        "|---|---|---|---|---|---|---|",
    ]
    for step, what, change in LADDER:
        cfg = TrainConfig(
            model=a.model,
            data=a.data,
            split="official",
            epochs=a.epochs,
            pretrained=False,
            eval_every=5,
            test_limit=16,
            extra={"profile": "improved-ablation", "step": step},
            **{**recipe, **change},
        )
        out = Path(a.out) / step
        if not a.table and (a.only is None or step in a.only.split(",")):
            fit(cfg, out, resume=True, progress=False)
        if not (out / "results.json").exists():
            lines.append(f"| {step} | {what} | not run | – | – | – | – |")
            continue
        v = _val(out)
        kept = best is None or v["val_l1"] < best
        if kept:
            recipe, best = {**recipe, **change}, v["val_l1"]
        minutes = sum(r["epoch_time_s"] for r in read_history(out / "history.csv")) / 60
        lines.append(
            f"| {step} | {what} | {'yes' if kept else 'no'} | {v['val_l1']:.4f} | {v['val_delta1']:.3f} | "
            f"{v['val_abs_rel']:.3f} | {minutes:.0f} |"
        )
    print("\n".join(lines))
    print(f"\nrecipe: model {a.model}, {recipe}")


if __name__ == "__main__":
    main()
