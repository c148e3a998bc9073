"""depthutils.ladder: a step is kept only when it lowers validation AbsRel (standard protocol, validation images
only), scores are cached under the checkpoint's checksum, nothing trains past a missing step, the teachers and
the synthetic pretraining are trained where a step asks for them, the committed tables regenerate byte-identical
from the committed records, and the final row and the ship choice follow the ladder's choice."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from depthutils import ladder as L
from depthutils.config import TrainConfig
from depthutils.data.dataset import load_data
from depthutils.run_folder import load_checkpoint
from depthutils.study import LADDERS, Pretraining, Step, Teachers, get_ladder

ROOT = Path(__file__).resolve().parents[1]

#: Training settings that take seconds: tiny synthetic rooms, 64×64, a third of the training split validates.
TINY = dict(
    data="synthetic",
    synth_count=40,
    synth_size=(64, 96),
    image_size=(64, 64),
    batch_size=4,
    limit=8,
    test_limit=4,
    val_fraction=0.3,
    pretrained=False,
)


def _tiny(name: str, steps: list[Step], **kw) -> L.Ladder:
    lad = dataclasses.replace(
        get_ladder(name), steps=tuple(steps), base=TINY, epochs=1, pretrain=Pretraining(24, (64, 96), 1), **kw
    )
    return lad


# -- the declared ladders ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LADDERS))
def test_every_step_of_every_ladder_is_a_valid_configuration(name):
    """A misspelt setting in a step would stop a long run hours in: every step's settings build a TrainConfig."""
    lad = get_ladder(name)
    recipe: dict = {}
    for step in lad.steps:
        change = {k: v for k, v in step.settings.items() if k not in ("pretrain", "teacher")}
        recipe = {**recipe, **change}
        cfg = L._config(lad, "synthetic", recipe, extra=L._extra(lad, step.name))
        assert cfg.extra == {"profile": lad.profile, "step": step.name}
    assert len({s.name for s in lad.steps}) == len(lad.steps)
    if lad.teachers:
        L._config(lad, "synthetic", {k: v for k, v in lad.teachers.recipe.items() if k != "pretrain"})


@pytest.mark.parametrize("name", [n for n in LADDERS if (ROOT / LADDERS[n].table_path).exists()])
def test_the_committed_table_regenerates_byte_identical_from_the_records(name):
    lad = get_ladder(name)
    w = L.walk(lad)  # the committed records: no checkpoint, no data (the baselines are cached beside them)
    assert L.table(w) == (ROOT / lad.table_path).read_text()
    ship = ROOT / f"report/generated/{name}-ship-choice.md"
    if ship.exists():
        held = L.final_record(w, ROOT / "results/report-nyu/runs" / name, None, rescore=False)
        assert L.ship_table(w, held, held["epoch"])[0] == ship.read_text()


def test_the_compact_ladder_chose_c3_and_its_final_row_is_c3s_recipe():
    w = L.walk(get_ladder("compact"))
    assert w.kept == ["C0", "C1", "C3"] and w.chosen == "C3" and not w.undecided
    results = json.loads((ROOT / "results/report-nyu/runs/compact/results.json").read_text())
    step = json.loads((ROOT / "results/report-nyu/compact-ablation/C3/config.json").read_text())
    L.check_final(results, step, "C3")  # the committed final row is C3's recipe on C3's images
    with pytest.raises(ValueError, match="batch_size 8"):
        L.check_final({**results, "config": {**results["config"], "batch_size": 8}}, step, "C3")
    moved = {**results, "dataset": {**results["dataset"], "val_indices": results["dataset"]["val_indices"][1:]}}
    with pytest.raises(ValueError, match="val_indices"):
        L.check_final(moved, step, "C3")


def test_a_new_final_row_of_an_old_ladder_is_its_steps_recipe():
    """The steps' records predate later settings (encoder_lr_scale): a final row built today from the chosen
    recipe is still the step's recipe, a setting missing from a record meaning its default."""
    w = L.walk(get_ladder("compact"))
    cfg = L.final_config(w, data="D", gt_data="G", epochs=100).to_dict()
    step = json.loads((ROOT / "results/report-nyu/compact-ablation/C3/config.json").read_text())
    assert "encoder_lr_scale" in cfg and "encoder_lr_scale" not in step["config"]
    L.check_final({"config": cfg, "dataset": step["dataset"]}, step, "C3")
    with pytest.raises(ValueError, match="encoder_lr_scale 0.1"):
        L.check_final({"config": {**cfg, "encoder_lr_scale": 0.1}, "dataset": step["dataset"]}, step, "C3")


def test_the_command_refuses_training_without_a_folder_and_unknown_steps():
    with pytest.raises(ValueError, match="--data and --out are required to train"):
        L.run("imagenet", out=None, data="D")
    with pytest.raises(ValueError, match="has no step I9"):
        L.run("imagenet", out="o", data="D", only=["I1", "I9"])


def test_a_final_record_of_another_epoch_or_without_baselines_is_refused(tmp_path, monkeypatch):
    lad = get_ladder("compact")
    w = L.walk(lad)
    results = json.loads((ROOT / "results/report-nyu/runs/compact/results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps({**results, "epochs": results["epochs"] + 1}))
    with pytest.raises(ValueError, match="score it again"):
        L.final_record(w, tmp_path, None, rescore=False)
    records = tmp_path / "records"
    shutil.copytree(ROOT / lad.records, records)
    held = json.loads((records / "final/val_standard.json").read_text())
    del held["baselines"]
    (records / "final/val_standard.json").write_text(json.dumps(held))
    monkeypatch.setattr(L, "records_dir", lambda _: records)
    with pytest.raises(ValueError, match="no baselines"):
        L.final_record(w, ROOT / "results/report-nyu/runs/compact", None, rescore=False)


# -- the walk ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_walk_keeps_steps_that_lower_validation_abs_rel_and_caches_scores(tmp_path):
    steps = [Step("A0", "base"), Step("A1", "another network", {"model": "densenet_unet"})]
    lad = _tiny("improved", [*steps, Step("A2", "pretrained on synthetic rooms", {"pretrain": True})])
    lad = dataclasses.replace(lad, model="resnete_decoder_v3")
    out = tmp_path / "abl"
    w = L.walk(lad, out, train=True)
    assert len(w.rows) == len(w.scored) == 3 and not w.undecided
    val = w.scored[0]["val_indices"]  # every step on the same validation images, never the test images
    assert val and all(s["val_indices"] == val for s in w.scored)
    assert all(len(s["per_image"]["abs_rel"]) == len(val) for s in w.scored)
    assert all(s["protocol"]["name"] == "standard" and s["protocol"]["eigen_crop"] for s in w.scored)
    best, expect, kept = w.scored[0]["abs_rel"], {}, []  # kept iff it beats the best recipe before it
    for step, s, row in zip(lad.steps, w.scored, w.rows, strict=True):
        ok = step.name == "A0" or s["abs_rel"] < best
        assert f"| {'yes' if ok else 'no'} |" in row
        if ok:
            best, kept = s["abs_rel"], [*kept, step.name]
            expect.update({k: v for k, v in step.settings.items() if k != "pretrain"})
            if "pretrain" in step.settings:
                expect["init_from"] = str((out / f"{step.name}-pretrain" / "last.pt").resolve())
    assert w.recipe == expect and w.kept == kept
    # the pretraining trains the network of the recipe it was added to, and the fine-tuning starts from it
    pre = json.loads((out / "A2-pretrain" / "config.json").read_text())
    assert pre["model_name"] == expect.get("model", lad.model) and pre["dataset"]["kind"] == "synthetic"
    text = L.table(w)
    assert f"{w.scored[0]['n_train']} training images" in text and f"{len(val)} validation images" in text
    base = json.loads((out / "baselines.json").read_text())  # under the steps, on the same validation images
    assert base["val_indices"] == val
    for name, label in L.BASELINES.items():
        v = base["baselines"][name]
        assert f"| – | {label} | – | {v['delta1']:.3f} | {v['abs_rel']:.3f} | – | {v['rmse']:.3f} | – |" in text
    # the validation scores are cached under the checkpoint's checksum
    held = json.loads((out / "A0" / "val_standard.json").read_text())
    (out / "A0" / "val_standard.json").write_text(json.dumps({**held, "abs_rel": 123.0}))
    assert L.validate(out / "A0")["abs_rel"] == 123.0  # returned as it is while the checkpoint is unchanged ...
    (out / "A0" / "val_standard.json").write_text(json.dumps({**held, "abs_rel": 123.0, "state_sha256": "other"}))
    assert L.validate(out / "A0")["abs_rel"] == held["abs_rel"]  # ... and recomputed when the checksum differs
    # the final row: the base settings and the chosen recipe, on the official split
    cfg = L.final_config(w, data="D", gt_data="G", epochs=7)
    assert (cfg.gt_data, cfg.epochs, cfg.split, cfg.extra["profile"]) == ("G", 7, "official", "improved")
    assert all(getattr(cfg, k) == v for k, v in expect.items() if k != "image_size")


def test_no_step_trains_after_a_missing_one(tmp_path):
    steps = [
        Step("A0", "base"),
        Step("A1", "another network", {"model": "densenet_unet"}),
        Step("A2", "p", {"pretrain": True}),
    ]
    w = L.walk(_tiny("improved", steps), tmp_path / "abl", train=True, only=["A2"])  # A0, A1 not asked for
    assert not w.scored and w.undecided == ["A0", "A1", "A2"] and "| A1 | another network | not run |" in w.rows[1]
    assert not (tmp_path / "abl").exists()
    with pytest.raises(ValueError, match="has not run A0, A1, A2, so its recipe is not decided"):
        L.final_config(w, data="D", gt_data=None, epochs=3)


def test_train_time_says_when_other_work_shared_the_cpu(tmp_path):
    def history(folder: str, times: list[float]) -> None:
        (tmp_path / folder).mkdir()
        rows = "".join(f"{i + 1},0.1,0.001,{t}\n" for i, t in enumerate(times))
        (tmp_path / folder / "history.csv").write_text("epoch,train_loss,lr,epoch_time_s\n" + rows)

    history("S0", [60, 66, 54, 60])
    assert L._time_cell(tmp_path, Step("S0", "")) == "4"  # undisturbed: the sum alone
    history("S1", [60, 600, 60, 66])  # one epoch shared the CPU with a test run
    history("S1-pretrain", [120, 120])
    assert L._time_cell(tmp_path, Step("S1", "")) == "13 (4 undisturbed)"
    assert L._time_cell(tmp_path, Step("S1", "", {"pretrain": True})) == "17 (8 undisturbed)"
    assert L.minutes(tmp_path, Step("S1", "", {"pretrain": True})) == pytest.approx(1026 / 60)


@pytest.mark.slow
def test_a_distillation_step_trains_its_teachers_first(tmp_path):
    steps = [Step("C0", "base"), Step("C1", "distilled", {"teacher": True})]
    teachers = Teachers({"model": "resnete_decoder_v3", "pretrain": True}, (0, 1), 1)
    lad = _tiny("compact", steps, teachers=teachers)
    out = tmp_path / "c"
    w = L.walk(lad, out, train=True)
    c1 = load_checkpoint(out / "C1" / "last.pt")
    paths = c1["config"]["teacher"].split(",")
    assert [Path(t).parent.name for t in paths] == ["C1-teacher-s0", "C1-teacher-s1"]
    for t in paths:  # each teacher: the teacher recipe's network, from the shared synthetic pretraining
        ck = load_checkpoint(t)
        assert ck["model_name"] == "resnete_decoder_v3"
        assert ck["config"]["init_from"].endswith("C1-teacher-pretrain/last.pt")
        held = set(c1["dataset"]["val_indices"]) | set(c1["dataset"]["test_indices"])
        assert not held & set(ck["dataset"]["train_indices"])  # never trained on a validation or test image
    assert L.minutes(out, lad.steps[1]) > L.minutes(out, Step("C1", ""))  # the teachers' time counts in the step
    if "C1" in w.kept:  # a kept distillation step passes its teachers on to the recipe (and the final row)
        assert w.recipe["teacher"] == c1["config"]["teacher"]


def test_the_reference_row_pairs_another_ladders_step_on_the_same_images(tmp_path, monkeypatch):
    ref = {
        "val_indices": [1, 2, 3],
        "per_image": {"abs_rel": [0.3, 0.2, 0.4]},
        "delta1": 0.5,
        "abs_rel": 0.3,
        "rmse": 0.9,
    }
    (tmp_path / "A8").mkdir()
    (tmp_path / "A8" / "val_standard.json").write_text(json.dumps(ref))
    monkeypatch.setattr(L, "records_dir", lambda _: tmp_path)
    step = {"val_indices": [1, 2, 3], "per_image": {"abs_rel": [0.2, 0.1, 0.3]}, "abs_rel": 0.2}
    row = L._reference_row(get_ladder("compact"), [step])
    assert "| 0.500 | 0.300 | -0.100 [-0.100, -0.100] | 0.900 |" in row
    (tmp_path / "A8" / "val_standard.json").write_text(json.dumps({**ref, "val_indices": [4, 5, 6]}))
    with pytest.raises(ValueError, match="other validation images"):
        L._reference_row(get_ladder("compact"), [step])


# -- the final row and the ship choice ---------------------------------------------------------------------------


def test_the_final_row_retrains_a_pretraining_that_is_gone(tmp_path, monkeypatch):
    """On a new machine the chosen step's pretraining checkpoint is gone: it is trained again from its committed
    settings, and the final row starts from it."""
    calls = []
    monkeypatch.setattr(L, "_fit", lambda cfg, out: calls.append((cfg, out)))
    lad = get_ladder("compact")
    cfg = L.final_config(L.walk(lad), data="D", gt_data="G", epochs=100)
    assert cfg.init_from == "/work/compact/runs/compact/C3-pretrain/last.pt"  # the path the ladder recorded
    cfg = L._final_pretraining(lad, cfg, tmp_path)
    ((pre, pre_out),) = calls
    recorded = json.loads((ROOT / lad.records / "C3-pretrain/config.json").read_text())["config"]
    assert pre.to_dict() == TrainConfig.from_dict(recorded).to_dict() and pre_out == tmp_path / "C3-pretrain"
    assert cfg.init_from == str((tmp_path / "C3-pretrain" / "last.pt").resolve())
    assert cfg.image_size == (192, 256) and cfg.batch_size == 16 and cfg.epochs == 100 and cfg.model == "regnet_unet"
    assert (cfg.data, cfg.gt_data, cfg.split, cfg.extra["profile"]) == ("D", "G", "official", "compact")
    calls.clear()
    assert L._final_pretraining(lad, dataclasses.replace(cfg, init_from=None), tmp_path).init_from is None
    assert not calls  # a recipe without pretraining trains only the final row


def _scored(abs_rel: float, per: list[float], indices=(1, 2, 3), precision="bf16") -> dict:
    return {
        "val_indices": list(indices),
        "delta1": 0.5,
        "abs_rel": abs_rel,
        "rmse": 0.9,
        "per_image": {"delta1": [0.5] * 3, "abs_rel": per, "rmse": [0.9] * 3},
        "protocol": {"precision": precision},
    }


#: Image-blind baselines as the final record holds them; the median one scores better than every run, so a
#: table that let a baseline ship would show it.
BASE = {
    "mean_map": {"delta1": 0.38, "abs_rel": 0.40, "rmse": 1.17, "precision": "fp32"},
    "median": {"delta1": 0.38, "abs_rel": 0.10, "rmse": 1.23, "precision": "fp32"},
}


def _walk(c0: dict) -> L.Walk:
    lad = dataclasses.replace(get_ladder("compact"), steps=(Step("C0", "base"),))
    return L.Walk(lad, Path("."), scored=[c0], kept=["C0"])


def test_the_lowest_validation_absrel_ships_and_baselines_never_do():
    c0 = _scored(0.25, [0.2, 0.25, 0.3])
    text, ship = L.ship_table(
        _walk(c0), {**_scored(0.24, [0.19, 0.24, 0.29], precision="fp32"), "baselines": BASE}, 100
    )
    assert ship == "final"
    assert "| final row (C0 recipe, 100 epochs) | 0.500 | 0.240 | 0.900 | fp32 | **ships** |" in text
    assert "AbsRel -0.010 [-0.010, -0.010]" in text  # final minus C0, the same images paired
    lines = text.splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("| Baseline: ")]
    assert lines[rows[1]] == "| Baseline: constant training median | 0.380 | 0.100 | 1.230 | fp32 | |"
    assert rows[0] > next(i for i, line in enumerate(lines) if line.startswith("| final row"))
    text, ship = L.ship_table(_walk(c0), {**_scored(0.26, [0.21, 0.26, 0.31]), "baselines": BASE}, 100)
    assert ship == "C0" and "| C0 | 0.500 | 0.250 | 0.900 | bf16 | **ships** |" in text
    with pytest.raises(ValueError, match="other validation images"):
        L.ship_table(_walk(c0), {**_scored(0.2, [0.2] * 3, indices=(4, 5, 6)), "baselines": BASE}, 9)


@pytest.mark.slow
def test_the_final_row_is_scored_as_the_ladder_scores_a_step(tmp_path):
    from depthutils.train import fit

    tiny = dict(synth_count=24, synth_size=(64, 96), image_size=(64, 96), batch_size=4, val_fraction=0.3, test_limit=4)
    cfg = TrainConfig(model="regnet_unet", data="synthetic", epochs=1, pretrained=False, **tiny)
    fit(cfg, tmp_path / "final", progress=False)
    step = tmp_path / "records" / "C3"
    step.mkdir(parents=True)
    identity = load_data(cfg).identity
    record = {"config": {**cfg.to_dict(), "init_from": "/gone/last.pt"}, "dataset": identity}
    (step / "config.json").write_text(json.dumps(record))
    held = L.score_final(tmp_path / "final", step, None)
    own = L.validate(tmp_path / "final")  # the ladder's own scoring of a step
    assert held["epoch"] == own["epoch"] == 1 and held["val_indices"] == own["val_indices"]
    for k in L.VAL_METRICS:
        assert held["per_image"][k] == pytest.approx(own["per_image"][k])
    assert held["protocol"] == own["protocol"] and set(held["baselines"]) == {"mean_map", "median"}
    (step / "config.json").write_text(json.dumps({**record, "dataset": {**identity, "val_indices": [0]}}))
    with pytest.raises(ValueError, match="validation images"):
        L.score_final(tmp_path / "final", step, None)
