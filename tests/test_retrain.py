"""depthutils.retrain: one command retrains shipped weights from their card alone (the runs they started from
included) and says whether the result lands in the card's intervals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import TINY
from depthutils.cli import main
from depthutils.release import export_weights
from depthutils.retrain import RETRAIN_FILE, retrain
from depthutils.run_folder import load_checkpoint, read_history


def _train(out: Path, *flags: str) -> Path:
    assert main(["train", "--model", "regnet_unet", "--out", str(out), "--epochs", "1", *flags, *TINY]) == 0
    return out


def _seconds(run: Path) -> float:
    return sum(r["epoch_time_s"] for r in read_history(run / "history.csv"))


@pytest.mark.slow
def test_retrain_redoes_the_lineage_from_the_card_and_lands_on_the_same_weights(tmp_path, monkeypatch, capsys):
    import depthutils.models.weights as weights_mod

    # a pretraining, a teacher started from it, and a student started from it and distilled from the teacher
    pre = _train(tmp_path / "pre")
    teacher = _train(tmp_path / "teacher", "--init-from", str(pre / "last.pt"))
    student = _train(tmp_path / "student", "--init-from", str(pre / "last.pt"), "--teacher", str(teacher / "last.pt"))
    root = tmp_path / "weights"
    monkeypatch.setattr(weights_mod, "WEIGHTS_ROOT", root)  # the CLI below finds "tiny" there
    w = export_weights(student, "tiny", root=root)
    lineage = w.meta["lineage"]
    # the runs by their last two parts: a card names no machine's folders
    assert (
        lineage["init_from"]["run"] == f"{tmp_path.name}/pre"
        and lineage["teacher"][0]["run"] == f"{tmp_path.name}/teacher"
    )
    assert lineage["teacher"][0]["config"]["init_from"] == "pre/last.pt"
    assert lineage["teacher"][0]["lineage"]["init_from"]["config"] == lineage["init_from"]["config"]
    # the shared pretraining counts once in the card's training time
    assert w.meta["training"]["extra_time_s"] == pytest.approx(_seconds(pre) + _seconds(teacher))
    card = (w.folder / "README.md").read_text()
    assert "## Retrain" in card and "trains the 2 runs it started from first" in card
    assert ".venv/bin/python -m depthutils retrain tiny --data synthetic \\\n    --out runs/" in card

    # from the card alone: the runs it started from are gone
    shutil.rmtree(pre)
    shutil.rmtree(teacher)
    out = tmp_path / "again"
    report = retrain("tiny", data="synthetic", out=out, root=root, progress=False)
    assert len(list(out.glob("init-*"))) == 1 and len(list(out.glob("teacher-*"))) == 1  # the pretraining once
    redo = load_checkpoint(out / "model" / "last.pt")
    assert redo["config"]["teacher"] == str(next(out.glob("teacher-*")) / "last.pt")
    # the same machine and the same settings: the same weights, so every metric lands on the card's
    before = load_checkpoint(student / "last.pt")["model_state"]
    assert before.keys() == redo["model_state"].keys()
    assert all(torch.equal(before[k], redo["model_state"][k]) for k in before)
    assert all(m["within_ci95"] and m["retrained"] == pytest.approx(m["card"]) for m in report["metrics"].values())
    assert json.loads((out / RETRAIN_FILE).read_text()) == report
    # the command again finds everything finished (nothing retrained: the checkpoint is untouched)
    mtime = (out / "model" / "last.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["retrain", "tiny", "--data", "synthetic", "--out", str(out), "--quiet"]) == 0
    assert (out / "model" / "last.pt").stat().st_mtime_ns == mtime
    printed = capsys.readouterr().out
    assert f"delta1: {report['metrics']['delta1']['retrained']:.4f}" in printed and "within" in printed


def test_a_card_without_the_lineage_it_needs_is_refused(tmp_path, monkeypatch):
    import depthutils.retrain as retrain_mod

    class _W:
        meta = {
            "recipe": {"data": "synthetic", "init_from": "/elsewhere/last.pt", "gt_data": None, "extra": {}},
            "lineage": {},
            "metrics": {"standard": {}},
        }

    monkeypatch.setattr(retrain_mod, "get_weights", lambda name, root=None: _W())
    with pytest.raises(ValueError, match="start from /elsewhere/last.pt, but the card records no lineage"):
        retrain("old", data="synthetic", out=tmp_path / "o")
    _W.meta["recipe"] = {**_W.meta["recipe"], "init_from": None, "gt_data": "/x/nyu_v2_labeled"}
    with pytest.raises(ValueError, match="pass --gt-data"):
        retrain("old", data="synthetic", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written
