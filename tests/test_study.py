"""The study manifest: one declaration of the rows and profiles that the pipeline, the tables, the notebooks and
the tests all read."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import pytest

from depthutils import study
from depthutils.compare import collect_results
from depthutils.config import TrainConfig
from depthutils.pipeline import NOTEBOOK_DIR, jobs
from depthutils.run_folder import Results
from depthutils.study import PROFILES, ROWS, Row, get_profile, get_row, pipeline_rows, train_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("row", [r.name for r in pipeline_rows()])
def test_every_row_under_every_profile_is_a_valid_configuration(row, profile):
    cfg = train_config(row, profile, data="synthetic")
    r, p = get_row(row), get_profile(profile)
    assert cfg.model == r.model and cfg.loss == r.loss and cfg.epochs == p.epochs(r.epochs)
    assert cfg.extra == {"profile": profile, "row": r.title}
    assert cfg.split == r.changes.get("split", study.STUDY_SETTINGS["split"])


@pytest.mark.parametrize(
    ("tag", "profile"), [("report-nyu", "report"), ("cpu-nyu", "cpu")], ids=["report-nyu", "cpu-nyu"]
)
def test_the_manifest_rebuilds_every_committed_runs_configuration(tag, profile):
    """No number changes: the committed rows were trained with exactly what the manifest builds today."""
    checked = 0
    for r in pipeline_rows():
        p = ROOT / "results" / tag / "runs" / r.name / "results.json"
        if not p.exists():
            assert (tag, r.name) in ADDED_AFTER, f"{tag} has no committed run of {r.name}"
            continue
        results = json.loads(p.read_text())
        assert list(results) == list(Results.__annotations__), r.name  # the typed record is what runs write
        stored = results["config"]
        built = train_config(r.name, profile, data=stored["data"], gt_data=stored["gt_data"]).to_dict()
        assert {k: built[k] for k in stored} == stored, r.name
        checked += 1
    assert checked == len([r for r in pipeline_rows() if (tag, r.name) not in ADDED_AFTER])


#: Rows added to the manifest after a committed study was run: that study has no run of them.
ADDED_AFTER = {("cpu-nyu", "lite0_unet_scratch"), ("cpu-nyu", "lite0_unet_imagenet")}


def test_unknown_rows_profiles_and_settings_name_the_nearest():
    with pytest.raises(ValueError, match="did you mean 'resnet_unet'"):
        get_row("resnet_unt")
    with pytest.raises(ValueError, match="did you mean 'smoke'"):
        get_profile("smoek")
    with pytest.raises(ValueError, match="did you mean 'batch_size'"):
        train_config("resnet_unet", "smoke", batchsize=8)
    with pytest.raises(ValueError, match="python -m depthutils ladder compact"):
        train_config("compact", "smoke")


def test_a_profile_with_a_misspelt_setting_is_refused(monkeypatch):
    bad = dataclasses.replace(PROFILES["smoke"], settings={**PROFILES["smoke"].settings, "imagesize": "64"})
    monkeypatch.setitem(PROFILES, "smoke", bad)
    with pytest.raises(ValueError, match="did you mean 'image_size'"):
        train_config("resnet_unet", "smoke")


def test_adding_a_row_is_one_edit_of_the_manifest(monkeypatch, tmp_path):
    new = Row(
        "resnet_unet_silog",
        "ResNet UNet, SILog",
        "resnet_unet",
        loss="silog",
        notebook="05_resnet_unet",
        executed="05_resnet_unet_silog",
    )
    monkeypatch.setattr(study, "ROWS", [*ROWS, new])
    todo = jobs("smoke", "synthetic", None, tmp_path, tmp_path / "f", tmp_path / "t.md")
    job = next(j for j in todo if j.row == new)
    assert job.name == "05_resnet_unet_silog" and job.params["row"] == "resnet_unet_silog"
    assert train_config("resnet_unet_silog", "smoke").loss == "silog"
    (tmp_path / "runs" / new.name).mkdir(parents=True)  # the tables pick the row up once its run exists
    src = next((ROOT / "results" / "report-nyu" / "runs").glob("resnet_unet/results.json"))
    (tmp_path / "runs" / new.name / "results.json").write_text(src.read_text())
    assert "ResNet UNet, SILog" in [r.title for r in collect_results(tmp_path / "runs")]


def test_changing_the_smoke_settings_is_one_edit(monkeypatch, tmp_path):
    changed = dataclasses.replace(PROFILES["smoke"], settings={**PROFILES["smoke"].settings, "batch_size": 2})
    monkeypatch.setitem(PROFILES, "smoke", changed)
    # every row takes the profile's batch, except a row whose own recipe sets it (the rows' changes come later)
    for r in pipeline_rows():
        assert train_config(r.name, "smoke").batch_size == r.changes.get("batch_size", 2), r.name
    assert any("batch_size" in r.changes for r in pipeline_rows())
    state = json.dumps(get_profile("smoke").state())  # what a pipeline run records, and a resume compares
    assert '"batch_size": 2' in state


def _parameters(name: str) -> dict:
    import ast

    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return {n.target.id: ast.literal_eval(n.value) for n in ast.parse(cell.source).body}


@pytest.mark.parametrize("notebook", sorted({r.notebook for r in pipeline_rows()}))
def test_training_notebooks_default_to_a_row_of_theirs_under_the_smoke_profile(notebook):
    params = _parameters(notebook)
    assert params["profile"] == "smoke" and params["overrides"] == {}
    assert get_row(params["row"]).notebook == notebook
    assert params["run_dir"].endswith(params["row"])


def test_the_tests_tiny_run_is_the_smoke_profile():
    import conftest

    flags = dict(zip(conftest.TINY[0::2], conftest.TINY[1::2]))
    for k, v in PROFILES["smoke"].settings.items():
        assert flags[f"--{k.replace('_', '-')}"] == str(v)
    TrainConfig.from_dict({"model": "resnet_unet", **PROFILES["smoke"].settings})
