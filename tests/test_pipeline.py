"""The papermill pipeline (smoke profile) and the notebooks' thinness and parameters cells."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

from depthutils.pipeline import NOTEBOOK_DIR, PROFILES, jobs, run_pipeline

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_notebooks_numbered_and_complete():
    names = [p.stem for p in NOTEBOOKS]
    assert names[0].startswith("01_data") and names[-1] == "08_compare"
    assert len([n for n in names if n[:2] in {"02", "03", "04", "05", "06", "07"}]) == 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_with_literal_parameters(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    tree = ast.parse(params[0].source)
    for node in tree.body:  # only `name: type = literal`
        assert isinstance(node, ast.AnnAssign), ast.dump(node)
        ast.literal_eval(node.value)
        assert "#" in params[0].source.splitlines()[node.lineno - 1], f"parameter on line {node.lineno} has no comment"
    for c in code:  # no model, dataset, loss or loop defined here: no def/class, no backward or optimiser step
        for node in ast.walk(ast.parse(c.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.While)), path.name
        assert ".backward(" not in c.source and ".step(" not in c.source, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_help_notebook_documents_every_parameter(path):
    import subprocess
    import sys

    nb = nbformat.read(path, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = [n.target.id for n in ast.parse(params.source).body]
    out = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(path)], capture_output=True,
                         text=True, timeout=120)
    text = out.stdout + out.stderr
    assert "Unable to parse" not in text
    for name in names:
        assert f"  {name}: " in text, name


def test_jobs_cover_every_table_row():
    j = jobs("cpu", "synthetic", Path("/o"), Path("/f"), Path("/t.md"))
    names = [name for _, name, _ in j]
    assert names[0] == "01_data_exploration" and names[-1] == "08_compare"
    assert {"05_resnet_unet_l1", "05_resnet_unet_berhu", "05_resnet_unet_ssim_l1"} <= set(names)
    epochs = {name: p.get("epochs") for _, name, p in j}
    assert epochs["07_densenet_unet"] == 10 and epochs["03_resnete_decoder_v2"] == 3  # 25 / 10 rounded up
    full = {name: p.get("epochs") for _, name, p in jobs("full", "synthetic", Path("/o"), Path("/f"), Path("/t"))}
    assert full["07_densenet_unet"] == 100 and full["03_resnete_decoder_v2"] == 25 and full["02_resnete_decoder_v1"] == 50
    assert PROFILES["full"]["image_size"] == 128 and PROFILES["full"]["batch_size"] == 64


def test_smoke_pipeline_end_to_end(tmp_path, capsys):
    out = tmp_path / "smoke"
    assert run_pipeline(profile="smoke", data="synthetic", out=out) == 0
    printed = capsys.readouterr().out
    assert "[10/10] 08_compare done" in printed
    executed = sorted(p.name for p in (out / "notebooks").glob("*.ipynb"))
    assert len(executed) == 10
    summary = json.loads((out / "summary.json").read_text())
    assert summary["profile"] == "smoke" and summary["data_kind"] == "synthetic"
    tables = (out / "tables.md").read_text()
    assert "ResNet UNet, SSIM+L1" in tables and "synthetic" in tables and "trained from scratch" in tables
    assert (out / "figures" / "figure3_predictions.png").stat().st_size > 1000
    for row in ("resnet_unet", "resnet_unet_berhu", "resnet_unet_ssim_l1", "densenet_unet"):
        assert json.loads((out / "runs" / row / "results.json").read_text())["epochs"] == 1


def test_failing_notebook_is_named(tmp_path, capsys):
    rc = run_pipeline(profile="smoke", data=str(tmp_path / "no_such_data"), out=tmp_path / "f", only="01")
    assert rc == 1
    err = capsys.readouterr().err
    assert "notebook 01_data_exploration.ipynb" in err and "cell" in err and "FileNotFoundError" in err
