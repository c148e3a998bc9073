"""[compact]'s final row from the ladder's committed records, for when the ladder's checkpoints are gone (they live
on a machine's disk, and a new machine starts without them).

    git worktree add /work/compact a6fd375        # the commit the ladder ran at
    cd /work/compact && PYTHONPATH=/work/compact setsid nohup /work/main/.venv/bin/python \\
        /work/main/tools/compact_final.py --records /work/main/results/report-nyu/compact-ablation \\
        --data /work/shared/data/nyu_v2_labeled_256x192 --gt-data /work/shared/data/nyu_v2_labeled \\
        >> /tmp/compact-final.log 2>&1 &

It trains the chosen step's synthetic pretraining again from its committed ``config.json`` (into
``runs/compact/C3-pretrain``), then the final row exactly as ``tools/compact_ablation.py --final`` builds it: the
ladder's base settings, the chosen step's changes (``init_from`` pointing at the new pretraining), the official
split, ``--epochs`` (100), into ``results/report-nyu/runs/compact``. Both resume. The chosen step is read from
the committed table's "Chosen recipe" line, so a ladder that chose otherwise is followed, not overridden.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=Path, required=True, help="results/report-nyu/compact-ablation of a checkout")
    ap.add_argument("--table", type=Path, default=None, help="default: that checkout's generated compact-ablation.md")
    ap.add_argument("--data", required=True)
    ap.add_argument("--gt-data", required=True)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("runs/compact"))
    ap.add_argument("--final-out", type=Path, default=Path("results/report-nyu/runs/compact"))
    a = ap.parse_args()

    tools = str(Path.cwd() / "tools")  # the worktree's own tools, at the ladder's commit
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import compact_ablation as ladder

    from depthutils.config import TrainConfig
    from depthutils.train import fit

    table = a.table or a.records.parents[2] / "report" / "generated" / "compact-ablation.md"
    line = re.search(r"^Chosen recipe: (\{.*\})\.$", table.read_text(), re.M)
    if not line:
        raise SystemExit(f"{table}: no 'Chosen recipe' line; walk the ladder (tools/compact_ablation.py) instead")
    recipe = json.loads(line.group(1))  # the model and the settings the ladder kept
    if "init_from" in recipe:  # the chosen step's pretraining: trained again from its committed settings
        step = Path(recipe["init_from"]).parent.name  # e.g. C3-pretrain
        pre = json.loads((a.records / step / "config.json").read_text())["config"]
        fit(TrainConfig.from_dict(pre), a.out / step, resume=True, progress=False)
        recipe["init_from"] = str((a.out / step / "last.pt").resolve())
    base = dict(
        model="regnet_unet", data=a.data, gt_data=a.gt_data, split="official", epochs=a.epochs, pretrained=False
    )
    extra = {"profile": "compact", "recipe": "tools/compact_ablation.py"}
    cfg = TrainConfig(**{**base, **ladder.BASE, **recipe, "extra": extra})
    fit(cfg, a.final_out, resume=True, progress=True)


if __name__ == "__main__":
    main()
