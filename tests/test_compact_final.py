"""tools/compact_final.py: the final row rebuilt from the ladder's committed records trains the chosen step's
pretraining from its recorded settings, then the final row from the chosen recipe, starting from that pretraining."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import load_tool
from depthutils.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tool():
    return load_tool("compact_final")


def _records(tmp_path: Path, chosen: dict) -> Path:
    records = tmp_path / "results" / "report-nyu" / "compact-ablation"
    pre = TrainConfig(model="regnet_unet", data="synthetic", epochs=2, synth_count=24, image_size=(64, 96))
    (records / "C3-pretrain").mkdir(parents=True)
    (records / "C3-pretrain" / "config.json").write_text(json.dumps({"config": pre.to_dict()}))
    table = tmp_path / "report" / "generated" / "compact-ablation.md"
    table.parent.mkdir(parents=True)
    table.write_text(f"| step |\n\nChosen recipe: {json.dumps(chosen)}.\n")
    return records


def _run(tool, monkeypatch, tmp_path, records: Path) -> list[tuple[TrainConfig, Path]]:
    calls = []
    monkeypatch.setattr("depthutils.train.fit", lambda cfg, out, **kw: calls.append((cfg, Path(out))))
    monkeypatch.chdir(ROOT)  # the tool imports the checkout's tools/compact_ablation.py
    out, final = tmp_path / "runs", tmp_path / "final"
    argv = [
        "x",
        "--records",
        str(records),
        "--data",
        "D",
        "--gt-data",
        "G",
        "--out",
        str(out),
        "--final-out",
        str(final),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    tool.main()
    return calls


def test_pretraining_then_the_final_row_from_it(tool, monkeypatch, tmp_path):
    chosen = {"model": "regnet_unet", "image_size": "192x256", "init_from": "/gone/runs/compact/C3-pretrain/last.pt"}
    (pre, pre_out), (cfg, final_out) = _run(tool, monkeypatch, tmp_path, _records(tmp_path, chosen))
    assert pre.data == "synthetic" and pre.epochs == 2 and pre_out == tmp_path / "runs" / "C3-pretrain"
    assert cfg.init_from == str((pre_out / "last.pt").resolve()) and final_out == tmp_path / "final"
    assert cfg.image_size == (192, 256) and cfg.epochs == 100 and cfg.batch_size == 16
    assert (cfg.data, cfg.gt_data, cfg.split, cfg.extra["profile"]) == ("D", "G", "official", "compact")


def test_a_recipe_without_pretraining_trains_only_the_final_row(tool, monkeypatch, tmp_path):
    calls = _run(tool, monkeypatch, tmp_path, _records(tmp_path, {"model": "regnet_unet", "image_size": "192x256"}))
    assert len(calls) == 1 and calls[0][0].init_from is None


def test_a_table_without_a_chosen_recipe_is_refused(tool, monkeypatch, tmp_path):
    records = _records(tmp_path, {})
    (tmp_path / "report" / "generated" / "compact-ablation.md").write_text("| step |\n")
    with pytest.raises(SystemExit, match="Chosen recipe"):
        _run(tool, monkeypatch, tmp_path, records)
