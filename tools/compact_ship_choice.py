"""Which compact model ships ([compact], [release]): the final row against the ladder's steps, on validation only.

    python tools/compact_ship_choice.py --run results/report-nyu/runs/compact \\
        --data ../shared/data/nyu_v2_labeled_256x192 --table report/generated/compact-ship-choice.md

The final row (the chosen recipe, trained long) is scored exactly as the ladder scored its steps
(tools/improved_ablation.py's ``validate``: the chosen step's settings, the same 80 validation images, standard
protocol at the stored resolution, flip TTA), and written beside the steps' records as
``results/report-nyu/compact-ablation/final/val_standard.json``, with the image-blind baselines on the same images
(``improved_ablation.score_baselines``, as under the ladder's table). The rule that picks the model to ship is the
ladder's own: the lowest validation AbsRel among the compact runs. The table gives every candidate's scores and the
final row's paired differences to the chosen step, so a choice by less than the noise shows as such. ``--run``
needs the row's ``last.pt`` (it stays on the machine that trained it); without it the committed record is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compact_ablation  # noqa: E402  (the ladder: its steps and its chosen recipe)
import improved_ablation as ladder_tool  # noqa: E402  (the shared scoring)

from depthutils._io import write_json_atomic, write_text_atomic  # noqa: E402
from depthutils.baselines import BASELINES  # noqa: E402
from depthutils.config import TrainConfig  # noqa: E402
from depthutils.data.dataset import load_data  # noqa: E402
from depthutils.metrics import bootstrap_diff_ci  # noqa: E402
from depthutils.run_folder import load_checkpoint  # noqa: E402

_ROOT = Path(__file__).resolve().parents[1]


def chosen_step(table: Path) -> str:
    """The ladder's chosen step: the last kept row of its generated table."""
    rows = [line for line in table.read_text().splitlines() if line.startswith("| C")]  # | C3 | change | yes | …
    kept = [line.split("|")[1].strip() for line in rows if line.split("|")[3].strip() == "yes"]
    if not kept:
        raise SystemExit(f"{table}: no kept step; walk the ladder (tools/compact_ablation.py) first")
    return kept[-1]


#: Settings in which the final row may differ from its step: the schedule, what is scored on the test set (the
#: choice never looks at it), bookkeeping, and paths that name the machine.
RECIPE_FREE = {"epochs", "eval_every", "test_limit", "gt_data", "extra", "data", "init_from"}


def check_run(results: dict, step_record: dict, step: str) -> None:
    """Refuse a run that is not the step's recipe on the step's images (the table would call it "the C3 recipe")."""
    cfg, ref = results["config"], step_record["config"]
    differ = sorted(k for k in set(cfg) | set(ref) if k not in RECIPE_FREE and cfg.get(k) != ref.get(k))
    if differ:
        raise SystemExit(
            f"the run is not {step}'s recipe: {', '.join(f'{k} {cfg.get(k)!r} (step: {ref.get(k)!r})' for k in differ)}"
        )
    for key in ("train_indices", "val_indices"):
        if results["dataset"][key] != step_record["dataset"][key]:
            raise SystemExit(f"the run's {key} are not {step}'s: it was trained on another split, nothing to compare")


def score_final(run: Path, step_record: Path, data: str | None) -> dict:
    """The final row's last epoch on the ladder's validation images, with the step's settings (``data`` replaces
    the step's data path, which names the machine that ran it) in the precision the row trained in; under
    ``baselines``, the image-blind baselines' scores on the same images."""
    step = json.loads((step_record / "config.json").read_text())
    results = json.loads((run / "results.json").read_text())
    over = {"init_from": None, "precision": results["precision"], **({"data": data} if data else {})}
    cfg = TrainConfig.from_dict({**step["config"], **over})
    ck = load_checkpoint(run / "last.pt")
    vdata = load_data(cfg)
    if vdata.identity["val_indices"] != step["dataset"]["val_indices"]:
        raise SystemExit(f"{cfg.data}: its validation images are not the ones {step_record.name} was scored on")
    base = ladder_tool.score_baselines(cfg, vdata)
    return {
        **ladder_tool.score_checkpoint(ck, cfg, vdata),
        "scored_as": f"{step_record.name} (tools/improved_ablation.py validate)",
        "baselines": {
            name: {**{k: v[k] for k in ladder_tool.VAL_METRICS}, "precision": v["protocol"]["precision"]}
            for name, v in base.items()
        },
    }


def table(scored: dict[str, dict], step: str, epochs: int, baselines: dict[str, dict]) -> tuple[str, str]:
    """The Markdown table and the name of the model to ship (lowest validation AbsRel among ``scored``, the runs;
    ``baselines``, the image-blind baselines on the same images, are rows under them and never ship)."""
    final = scored["final"]
    for name, v in scored.items():
        if v["val_indices"] != final["val_indices"]:
            raise ValueError(f"{name} was scored on other validation images than the final row")
    ship = min(scored, key=lambda n: scored[n][ladder_tool.CRITERION])
    rows = [
        f"| {name if name != 'final' else f'final row ({step} recipe, {epochs} epochs)'} | {v['delta1']:.3f} | "
        f"{v['abs_rel']:.3f} | {v['rmse']:.3f} | {v['protocol']['precision']} | {'**ships**' if name == ship else ''} |"
        for name, v in scored.items()
    ]
    rows += [
        f"| {BASELINES[name]} | {v['delta1']:.3f} | {v['abs_rel']:.3f} | {v['rmse']:.3f} | {v['precision']} | |"
        for name, v in baselines.items()
    ]
    diffs = []
    for k, label in (("delta1", "δ1"), ("abs_rel", "AbsRel"), ("rmse", "RMSE [m]")):
        d, lo, hi = bootstrap_diff_ci(scored[step]["per_image"][k], final["per_image"][k], paired=True)
        diffs.append(f"{label} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    text = "\n".join(
        [
            f"The compact runs on the {len(final['val_indices'])} validation images of the official split (never "
            "the test set), standard protocol at the stored resolution (prediction upsampled to the ground truth, "
            "Eigen crop, depth in (1e-3, 10] m, flip TTA), each run's last epoch, no ImageNet weights (from scratch, "
            f"or from the synthetic pretraining where the ladder kept it); the final row scored with {step}'s "
            "settings, as the ladder scored its steps. Precision: the run's scoring precision, which is also the one "
            "it trained in (`auto`: bf16 where the CPU has it, fp32 where not). The model that ships is the one with "
            "the lowest validation AbsRel (the ladder's criterion). The last rows are the image-blind baselines, "
            "fitted on the training images and scored on the same validation images (flip TTA off), as under the "
            "ladder's table.",
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="the final row's folder (last.pt, results.json)")
    ap.add_argument("--records", type=Path, default=_ROOT / "results/report-nyu/compact-ablation")
    ap.add_argument("--ladder-table", type=Path, default=_ROOT / "report/generated/compact-ablation.md")
    ap.add_argument("--data", default=None, help="the stored NYU copy (default: the path in the step's config)")
    ap.add_argument("--table", type=Path, default=None, help="write the table here")
    a = ap.parse_args()

    step = chosen_step(a.ladder_table)
    if not (a.run / "results.json").exists():
        raise SystemExit(
            f"{a.run}: no results.json; --run is the final row's folder (e.g. results/report-nyu/runs/compact)"
        )
    results = json.loads((a.run / "results.json").read_text())
    check_run(results, json.loads((a.records / step / "config.json").read_text()), step)
    record = a.records / "final" / "val_standard.json"
    if (a.run / "last.pt").exists():
        final = score_final(a.run, a.records / step, a.data)
        write_json_atomic(record, final)
    elif record.exists():
        final = json.loads(record.read_text())
        if final["epoch"] != results["epochs"]:
            raise SystemExit(f"{record} scored epoch {final['epoch']}, {a.run} ran {results['epochs']}: score it again")
        if "baselines" not in final:
            raise SystemExit(f"{record} has no baselines (an older record): score it again with the run's last.pt")
        print(f"{a.run}: no last.pt here; the committed {record} is read", file=sys.stderr)
    else:
        raise SystemExit(f"{a.run}: no last.pt, and no committed {record}: nothing to score")
    scored = {s: json.loads((a.records / s / "val_standard.json").read_text()) for s, _, _ in compact_ablation.LADDER}
    text, _ = table({**scored, "final": final}, step, results["epochs"], final["baselines"])
    print(text)
    if a.table:
        write_text_atomic(a.table, text)


if __name__ == "__main__":
    main()
