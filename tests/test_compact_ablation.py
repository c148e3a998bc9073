"""tools/compact_ablation.py: the compact ladder walks the shared machinery with its own steps, trains a teacher
ensemble for its distillation step (counted in the step's time, never on validation or test images), and scores
the improved recipe's committed step beside its own on the same validation images."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from depthutils.run_folder import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]

#: As tests/test_improved_ablation.py: tiny synthetic rooms, 64×64 (96×128 for the larger-input step).
TINY_BASE = dict(
    data="synthetic",
    synth_count=40,
    synth_size=(96, 128),
    image_size=(64, 64),
    batch_size=4,
    limit=8,
    test_limit=4,
    val_fraction=0.3,
)


@pytest.fixture
def tool(monkeypatch):
    spec = importlib.util.spec_from_file_location("compact_ablation", ROOT / "tools" / "compact_ablation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "PRETRAIN", {"synth_count": 24, "synth_size": (64, 96), "epochs": 1})
    teacher = {"recipe": {"model": "resnete_decoder_v3", "pretrain": True}, "seeds": (0, 1), "epochs": 1}
    monkeypatch.setattr(mod, "TEACHER", teacher)
    ladder = [
        ("C0", "base", {}),
        ("C1", "larger input, CutDepth", {"image_size": (96, 128), "cutdepth": 0.5}),
        ("C2", "distilled", {"teacher": True}),
    ]
    monkeypatch.setattr(mod, "LADDER", ladder)
    return mod


def _args(tool, tmp_path: Path) -> argparse.Namespace:
    a = argparse.Namespace(model="regnet_unet", data="synthetic", epochs=1, out=str(tmp_path / "c"), only=None)
    a.ladder, a.pretrain, a.teacher, a.profile, a.base = tool.LADDER, tool.PRETRAIN, tool.TEACHER, "compact", TINY_BASE
    return a


@pytest.mark.slow
def test_compact_ladder_trains_its_teachers_and_distils_from_them(tool, tmp_path):
    a = _args(tool, tmp_path)
    recipe, rows, scored = tool.ladder_tool.ladder(a, train=True)
    assert len(scored) == 3 and [r.split(" | ")[0] for r in rows] == ["| C0", "| C1", "| C2"]
    out = Path(a.out)
    c2 = load_checkpoint(out / "C2" / "last.pt")
    teachers = c2["config"]["teacher"].split(",")
    assert [Path(t).parent.name for t in teachers] == ["C2-teacher-s0", "C2-teacher-s1"]
    for t in teachers:  # each teacher: the teacher recipe's network, from the shared synthetic pretraining
        ck = load_checkpoint(t)
        assert ck["model_name"] == "resnete_decoder_v3"
        assert ck["config"]["init_from"].endswith("C2-teacher-pretrain/last.pt")
        held = set(c2["dataset"]["val_indices"]) | set(c2["dataset"]["test_indices"])
        assert not held & set(ck["dataset"]["train_indices"])
    # the step's time includes its teachers' training (and their pretraining)
    only_student = tool.ladder_tool._minutes(argparse.Namespace(out=a.out), "C2", {})
    assert tool.ladder_tool._minutes(a, "C2", {"teacher": True}) > only_student
    # a kept distillation step passes its teachers on to the recipe (and so to the final row)
    if "| C2 | distilled | yes |" in rows[2]:
        assert recipe["teacher"] == c2["config"]["teacher"]


def test_reference_row_pairs_the_improved_step_on_the_same_images(tool, tmp_path):
    per = {"abs_rel": [0.3, 0.2, 0.4]}
    step = {"val_indices": [1, 2, 3], "per_image": {"abs_rel": [0.2, 0.1, 0.3]}, "abs_rel": 0.2}
    ref = {"val_indices": [1, 2, 3], "per_image": per, "delta1": 0.5, "abs_rel": 0.3, "rmse": 0.9}
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(ref))
    row = tool.reference_row([step], path)
    assert "| 0.500 | 0.300 | -0.100 [-0.100, -0.100] | 0.900 |" in row
    path.write_text(json.dumps({**ref, "val_indices": [4, 5, 6]}))
    with pytest.raises(ValueError, match="other validation images"):
        tool.reference_row([step], path)


def test_the_final_row_is_refused_until_the_ladder_is_walked(tool, tmp_path):
    """From a clean checkout the ladder's runs are missing: --final must not train a recipe nobody chose."""
    a = _args(tool, tmp_path)
    a.table, a.final, a.gt_data, a.final_out = None, 3, None, str(tmp_path / "final")
    with pytest.raises(SystemExit, match="has not run C0, C1, C2, so its recipe is not decided"):
        tool.ladder_tool.run(a, final_profile="compact")
    assert not (tmp_path / "final").exists()
