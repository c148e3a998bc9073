"""The compact model's recipe ([compact]), chosen on the validation subset: a ladder on RegNet UNet (5.7 M
parameters), each step trained for a short schedule and scored on validation only, as the improved row's was.

    python tools/compact_ablation.py --data ../shared/data/nyu_v2_labeled_256x192 --out runs/compact
    python tools/compact_ablation.py ... --table report/generated/compact-ablation.md     # the table of what is done
    python tools/compact_ablation.py ... --final 100 --gt-data ../shared/data/nyu_v2_labeled \\
        --final-out results/report-nyu/runs/compact                                     # the chosen recipe, long

The ladder starts from the improved row's recipe without its pretraining (batch 16, L1, ReLU head, Adam 1e-3
cosine, the report's augmentation, 96×128) on the compact network, then tries a larger input, CutDepth,
synthetic pretraining at the new size and distillation from a teacher ensemble (the improved recipe, ResNetE
Decoder v3 from synthetic pretraining, over two seeds, trained on the same training images: never on a
validation or test image). The rules are tools/improved_ablation.py's: a step is kept when it lowers validation
AbsRel; the table gives each step's paired difference with its 95% interval; the teacher's training time counts
in its step's time. Under the steps, the improved ladder's own chosen step (A8, ResNetE Decoder v3 at 30 epochs)
is scored on the same validation images as the reference to beat.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import improved_ablation as ladder_tool  # noqa: E402  (the shared ladder machinery, beside this file)

from depthutils.metrics import bootstrap_diff_ci  # noqa: E402

#: Synthetic pretraining at the compact model's input size: as the improved ladder's A8, 4000 rooms, 10 epochs.
PRETRAIN = {"synth_count": 4000, "synth_size": (192, 256), "epochs": 10}

#: The teacher ensemble: the improved row's recipe (its ladder's choice), two seeds, 60 epochs each.
TEACHER = {
    "recipe": {"model": "resnete_decoder_v3", "image_size": "96x128", "batch_size": 16, "pretrain": True},
    "seeds": (0, 1),
    "epochs": 60,
}

#: The starting recipe: the improved row's without its synthetic pretraining (a later step tries it at 192×256).
BASE = {"image_size": "96x128", "batch_size": 16}

LADDER = [
    ("C0", "RegNet UNet with the improved row's recipe (96×128, batch 16), no pretraining", {}),
    ("C1", "input 192×256 (the stored resolution: 4× the pixels)", {"image_size": "192x256"}),
    ("C2", "CutDepth, p = 0.5", {"cutdepth": 0.5}),
    (
        "C3",
        f"pretrained on {PRETRAIN['synth_count']} synthetic rooms ({PRETRAIN['epochs']} epochs) at the recipe's size",
        {"pretrain": True},
    ),
    (
        "C4",
        f"distilled from the improved recipe over {len(TEACHER['seeds'])} seeds ({TEACHER['epochs']} epochs each, "
        "flip TTA), weight 1",
        {"teacher": True},
    ),
]

#: The reference row: the improved ladder's chosen step, its validation scores as committed.
REFERENCE = Path(__file__).resolve().parents[1] / "results/report-nyu/ablation/A8/val_standard.json"


def reference_row(scored: list[dict], reference: Path = REFERENCE) -> str:
    """The improved recipe's validation scores (same images) and the last kept compact step's paired difference
    to it in AbsRel (negative: the compact step is better)."""
    if not scored or not reference.exists():
        return ""
    ref = json.loads(reference.read_text())
    if ref["val_indices"] != scored[0]["val_indices"]:
        raise ValueError(f"{reference} was scored on other validation images than this ladder")
    best = min(scored, key=lambda v: v[ladder_tool.CRITERION])
    d, lo, hi = bootstrap_diff_ci(ref["per_image"]["abs_rel"], best["per_image"]["abs_rel"], paired=True)
    return (
        f"| ref | the improved recipe at 30 epochs (improved ladder A8, ResNetE Decoder v3, 24.9 M parameters); Δ: "
        f"best compact step minus it | – | {ref['delta1']:.3f} | {ref['abs_rel']:.3f} | {d:+.3f} [{lo:+.3f}, "
        f"{hi:+.3f}] | {ref['rmse']:.3f} | – |"
    )


def main() -> None:
    ap = ladder_tool.parser(__doc__.splitlines()[0], model="regnet_unet", final_out="results/report-nyu/runs/compact")
    a = ap.parse_args()
    a.ladder, a.pretrain, a.teacher, a.profile, a.base = LADDER, PRETRAIN, TEACHER, "compact-ablation", BASE
    ladder_tool.run(a, final_profile="compact", extra_rows=reference_row)


if __name__ == "__main__":
    main()
