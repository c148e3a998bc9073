"""The learning-rate and schedule sweep behind the study's one choice for every row (docs/CHOICES.md).

    python report/scripts/lr_sweep.py --data ../shared/data/nyu_v2_labeled_256x192 --out runs/sweep

Short runs (10 epochs) of ResNetE Decoder v3, the fastest row, in the report's setting (128×128, batch 64, Adam,
official split, encoders from scratch,
precision auto), scored on the validation subset only: the test images play no part in the choice. Prints a
Markdown table of the validation L1 (÷ 10 m), δ1 and AbsRel at the last epoch; finished runs are reused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depthutils.config import TrainConfig
from depthutils.run_folder import read_history
from depthutils.train import fit

#: (model, lr, schedule)
GRID = [("resnete_decoder_v3", lr, "cosine") for lr in (1e-4, 1e-3, 3e-3)] + [("resnete_decoder_v3", 1e-3, "constant")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="runs/sweep")
    ap.add_argument("--epochs", type=int, default=10)
    a = ap.parse_args()
    lines = [
        "| model | lr | schedule | epochs | val L1 (÷10 m) | val δ1 | val AbsRel | train loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, lr, sched in GRID:
        cfg = TrainConfig(
            model=model,
            data=a.data,
            split="official",
            epochs=a.epochs,
            lr=lr,
            lr_schedule=sched,
            pretrained=False,
            test_limit=16,
            eval_every=5,
            extra={"profile": "lr-sweep"},
        )
        out = Path(a.out) / f"{model}_lr{lr:g}_{sched}"
        fit(cfg, out, resume=True, progress=False)
        last = read_history(out / "history.csv")[-1]
        lines.append(
            f"| {model} | {lr:g} | {sched} | {a.epochs} | {last['val_l1']:.4f} | {last['val_delta1']:.3f} | "
            f"{last['val_abs_rel']:.3f} | {last['train_loss']:.4f} |"
        )
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
