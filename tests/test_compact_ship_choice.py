"""tools/compact_ship_choice.py: the model that ships is the compact run with the lowest validation AbsRel, the
final row scored as the ladder scored its steps (same images, the chosen step's settings), and the committed table
is what the committed records give."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import load_tool
from depthutils.config import TrainConfig
from depthutils.data.dataset import load_data
from depthutils.train import fit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tool():
    return load_tool("compact_ship_choice")


def _scored(abs_rel: float, per: list[float], indices=(1, 2, 3), precision="bf16") -> dict:
    return {
        "val_indices": list(indices),
        "delta1": 0.5,
        "abs_rel": abs_rel,
        "rmse": 0.9,
        "per_image": {"delta1": [0.5] * 3, "abs_rel": per, "rmse": [0.9] * 3},
        "protocol": {"precision": precision},
    }


def test_chosen_step_is_the_ladders_last_kept_step(tool, tmp_path):
    assert tool.chosen_step(ROOT / "report/generated/compact-ablation.md") == "C3"
    table = tmp_path / "t.md"
    table.write_text("| C0 | base | yes | 0.4 |\n| C1 | more | no | 0.4 |\n| C2 | most | yes | 0.5 |\n")
    assert tool.chosen_step(table) == "C2"
    table.write_text("| C0 | base | not run | – |\n")
    with pytest.raises(SystemExit, match="no kept step"):
        tool.chosen_step(table)


#: Image-blind baselines as the final record holds them; the median one scores better than every run, so a
#: table that let a baseline ship would show it.
BASE = {
    "mean_map": {"delta1": 0.38, "abs_rel": 0.40, "rmse": 1.17, "precision": "fp32"},
    "median": {"delta1": 0.38, "abs_rel": 0.10, "rmse": 1.23, "precision": "fp32"},
}


def test_the_lowest_validation_absrel_ships_with_paired_differences(tool):
    c3 = _scored(0.25, [0.2, 0.25, 0.3])
    final = _scored(0.24, [0.19, 0.24, 0.29], precision="fp32")
    text, ship = tool.table({"C3": c3, "final": final}, "C3", 100, BASE)
    assert ship == "final"
    assert "| final row (C3 recipe, 100 epochs) | 0.500 | 0.240 | 0.900 | fp32 | **ships** |" in text
    assert "AbsRel -0.010 [-0.010, -0.010]" in text  # final minus C3, the same images paired
    text, ship = tool.table({"C3": c3, "final": _scored(0.26, [0.21, 0.26, 0.31])}, "C3", 100, BASE)
    assert ship == "C3" and "| C3 | 0.500 | 0.250 | 0.900 | bf16 | **ships** |" in text


def test_the_baselines_are_rows_under_the_runs_and_never_ship(tool):
    text, ship = tool.table({"C3": _scored(0.25, [0.2] * 3), "final": _scored(0.24, [0.2] * 3)}, "C3", 9, BASE)
    lines = text.splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("| Baseline: ")]
    assert lines[rows[0]] == "| Baseline: mean training depth map | 0.380 | 0.400 | 1.170 | fp32 | |"
    assert lines[rows[1]] == "| Baseline: constant training median | 0.380 | 0.100 | 1.230 | fp32 | |"
    assert rows[0] > next(i for i, line in enumerate(lines) if line.startswith("| final row"))
    assert ship == "final"  # the median baseline's lower AbsRel does not make it a candidate


def test_other_validation_images_are_refused(tool):
    with pytest.raises(ValueError, match="other validation images"):
        tool.table({"C3": _scored(0.25, [0.2] * 3, indices=(4, 5, 6)), "final": _scored(0.2, [0.2] * 3)}, "C3", 9, {})


def test_the_committed_table_is_what_the_committed_records_give(tool, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["x", "--run", str(ROOT / "results/report-nyu/runs/compact")])
    tool.main()  # no last.pt in the repository: reads results/report-nyu/compact-ablation/final/val_standard.json
    out = capsys.readouterr()
    assert out.out.strip() == (ROOT / "report/generated/compact-ship-choice.md").read_text().strip()
    assert "committed" in out.err  # says that it read the record, not the checkpoint


def test_a_record_of_another_epoch_is_refused(tool, monkeypatch, tmp_path):
    results = json.loads((ROOT / "results/report-nyu/runs/compact/results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps({**results, "epochs": results["epochs"] + 1}))
    monkeypatch.setattr(sys, "argv", ["x", "--run", str(tmp_path)])
    with pytest.raises(SystemExit, match="score it again"):
        tool.main()


def test_a_record_without_baselines_is_refused(tool, monkeypatch, tmp_path):
    records = tmp_path / "records"  # the committed records, the final one without baselines
    shutil.copytree(ROOT / "results/report-nyu/compact-ablation", records)
    held = json.loads((records / "final/val_standard.json").read_text())
    del held["baselines"]
    (records / "final/val_standard.json").write_text(json.dumps(held))
    monkeypatch.setattr(
        sys, "argv", ["x", "--run", str(ROOT / "results/report-nyu/runs/compact"), "--records", str(records)]
    )
    with pytest.raises(SystemExit, match="no baselines"):
        tool.main()


def test_a_run_of_another_recipe_or_split_is_refused(tool):
    results = json.loads((ROOT / "results/report-nyu/runs/compact/results.json").read_text())
    step = json.loads((ROOT / "results/report-nyu/compact-ablation/C3/config.json").read_text())
    tool.check_run(results, step, "C3")  # the committed final row is C3's recipe on C3's images
    other = {**results, "config": {**results["config"], "batch_size": 8}}
    with pytest.raises(SystemExit, match="batch_size 8"):
        tool.check_run(other, step, "C3")
    moved = {**results, "dataset": {**results["dataset"], "val_indices": results["dataset"]["val_indices"][1:]}}
    with pytest.raises(SystemExit, match="val_indices"):
        tool.check_run(moved, step, "C3")


@pytest.mark.slow
def test_the_final_row_is_scored_as_the_ladder_scores_a_step(tool, tmp_path):
    tiny = dict(synth_count=24, synth_size=(64, 96), image_size=(64, 96), batch_size=4, val_fraction=0.3, test_limit=4)
    cfg = TrainConfig(model="regnet_unet", data="synthetic", epochs=1, pretrained=False, **tiny)
    fit(cfg, tmp_path / "final", progress=False)
    step = tmp_path / "records" / "C3"
    step.mkdir(parents=True)
    identity = load_data(cfg).identity
    record = {"config": {**cfg.to_dict(), "init_from": "/gone/last.pt"}, "dataset": identity}
    (step / "config.json").write_text(json.dumps(record))
    held = tool.score_final(tmp_path / "final", step, None)
    ladder = tool.ladder_tool.validate(tmp_path / "final")  # the ladder's own scoring of a step
    assert held["epoch"] == ladder["epoch"] == 1 and held["val_indices"] == ladder["val_indices"]
    for k in ("delta1", "abs_rel", "rmse"):
        assert held["per_image"][k] == pytest.approx(ladder["per_image"][k])
    assert held["protocol"] == ladder["protocol"]
    base = tool.ladder_tool.baseline_scores(tmp_path / "final")  # the baselines as the ladder's table scores them
    assert set(held["baselines"]) == set(base) == {"mean_map", "median"}
    for name, v in base.items():
        assert {k: held["baselines"][name][k] for k in ("delta1", "abs_rel", "rmse")} == pytest.approx(
            {k: v[k] for k in ("delta1", "abs_rel", "rmse")}
        )
    # a step scored on other validation images is refused
    (step / "config.json").write_text(json.dumps({**record, "dataset": {**identity, "val_indices": [0]}}))
    with pytest.raises(SystemExit, match="validation images"):
        tool.score_final(tmp_path / "final", step, None)
