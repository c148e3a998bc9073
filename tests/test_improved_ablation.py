"""tools/improved_ablation.py: the ladder keeps a step only when it lowers validation AbsRel (standard protocol),
scores on validation images only, caches the scores under the checkpoint's checksum, and never trains past a
missing step."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # both tests train ladder steps

#: Training settings that take seconds: tiny synthetic rooms, 64×64, a third of the training split validates.
TINY_BASE = dict(
    data="synthetic",
    synth_count=40,
    synth_size=(64, 96),
    image_size=(64, 64),
    batch_size=4,
    limit=8,
    test_limit=4,
    val_fraction=0.3,
)


@pytest.fixture
def tool(monkeypatch):
    spec = importlib.util.spec_from_file_location("improved_ablation", ROOT / "tools" / "improved_ablation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "PRETRAIN", {"synth_count": 24, "synth_size": (64, 96), "epochs": 1})
    monkeypatch.setattr(
        mod,
        "LADDER",
        [
            ("A0", "base", {}),
            ("A1", "another network", {"model": "densenet_unet"}),
            ("A2", "pretrained on synthetic rooms", {"pretrain": True}),
        ],
    )
    return mod


def _args(tmp_path: Path, **kw) -> argparse.Namespace:
    a = argparse.Namespace(model="resnete_decoder_v3", data="synthetic", epochs=1, out=str(tmp_path / "abl"), only=None)
    a.base = TINY_BASE
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def test_ladder_keeps_steps_that_lower_validation_abs_rel_and_caches_scores(tool, tmp_path):
    a = _args(tmp_path)
    recipe, rows, scored = tool.ladder(a, train=True)
    assert len(rows) == len(scored) == 3
    # every step is scored on the same validation images, never the test images
    val = scored[0]["val_indices"]
    assert val and all(s["val_indices"] == val for s in scored)
    assert all(len(s["per_image"]["abs_rel"]) == len(val) for s in scored)
    assert all(s["protocol"]["name"] == "standard" and s["protocol"]["eigen_crop"] for s in scored)
    # the decisions follow the criterion: a step is kept iff it beats the best recipe before it
    best = scored[0]["abs_rel"]
    expect: dict = {}
    for (step, _, change), s, row in zip(tool.LADDER, scored, rows, strict=True):
        kept = step == "A0" or s["abs_rel"] < best
        assert f"| {'yes' if kept else 'no'} |" in row
        if kept:
            best = s["abs_rel"]
            expect.update({k: v for k, v in change.items() if k != "pretrain"})
            if "pretrain" in change:
                expect["init_from"] = str((Path(a.out) / f"{step}-pretrain" / "last.pt").resolve())
    assert recipe == expect
    # the pretraining trains the network of the recipe it was added to, and the fine-tuning starts from it
    pre = json.loads((Path(a.out) / "A2-pretrain" / "config.json").read_text())
    assert pre["model_name"] == expect.get("model", a.model) and pre["dataset"]["kind"] == "synthetic"
    text = tool.table(a, rows, recipe, scored)
    assert f"{scored[0]['n_train']} training images" in text and f"{len(val)} validation images" in text
    # the image-blind baselines sit under the steps, scored on the same validation images
    base = tool.baseline_scores(Path(a.out) / "A0")
    for name, label in tool.BASELINES.items():
        assert f"| – | {label} | – | {base[name]['delta1']:.3f} | {base[name]['abs_rel']:.3f} |" in text
        assert len(base[name]["per_image"]["abs_rel"]) == len(val)
    assert (Path(a.out) / "A2-pretrain" / "last.pt").exists()

    # the validation scores are cached under the checkpoint's checksum
    out = Path(a.out) / "A0"
    held = json.loads((out / "val_standard.json").read_text())
    held["abs_rel"] = 123.0  # a cached score is returned as it is while the checkpoint is unchanged ...
    (out / "val_standard.json").write_text(json.dumps(held))
    assert tool.validate(out)["abs_rel"] == 123.0
    held["state_sha256"] = "another checkpoint"  # ... and recomputed when the checksum differs
    (out / "val_standard.json").write_text(json.dumps(held))
    assert tool.validate(out)["abs_rel"] != 123.0


def test_no_step_trains_after_a_missing_one(tool, tmp_path):
    a = _args(tmp_path, only="A0,A2")  # A1 is not asked for, so A2 would build on an undecided recipe
    recipe, rows, scored = tool.ladder(a, train=True)
    assert len(scored) == 1 and "| A1 | another network | not run |" in rows[1] and "| not run |" in rows[2]
    assert not (Path(a.out) / "A2").exists() and not (Path(a.out) / "A2-pretrain").exists()


def test_train_time_says_when_other_work_shared_the_cpu(tool, tmp_path):
    def history(folder: str, times: list[float]) -> None:
        (tmp_path / folder).mkdir()
        rows = "".join(f"{i + 1},0.1,0.001,{t}\n" for i, t in enumerate(times))
        (tmp_path / folder / "history.csv").write_text("epoch,train_loss,lr,epoch_time_s\n" + rows)

    a = argparse.Namespace(out=str(tmp_path))
    history("S0", [60, 66, 54, 60])
    assert tool._time_cell(a, "S0", {}) == "4"  # undisturbed: the sum alone
    history("S1", [60, 600, 60, 66])  # one epoch shared the CPU with a test run
    history("S1-pretrain", [120, 120])
    assert tool._time_cell(a, "S1", {}) == "13 (4 undisturbed)"
    assert tool._time_cell(a, "S1", {"pretrain": True}) == "17 (8 undisturbed)"
    assert tool._minutes(a, "S1", {"pretrain": True}) == pytest.approx(1026 / 60)
