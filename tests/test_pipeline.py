"""The papermill pipeline (smoke profile) and the notebooks' thinness and parameters cells."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

from depthutils.pipeline import NOTEBOOK_DIR, jobs, pipeline_status, run_pipeline
from depthutils.study import pipeline_rows, report_rows

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_notebooks_numbered_and_complete():
    names = [p.stem for p in NOTEBOOKS]
    assert names[0].startswith("01_data") and names[7:9] == ["08_compare", "09_try_your_photo"]
    # one training notebook per architecture: the report's six (02–07), then the study's added ones (10 on)
    assert len([n for n in names if n[:2] in {"02", "03", "04", "05", "06", "07"}]) == 6
    assert names[9:] == ["10_lite0_unet"]


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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_help_notebook_documents_every_parameter(path):
    import subprocess
    import sys

    nb = nbformat.read(path, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = [n.target.id for n in ast.parse(params.source).body]
    out = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(path)], capture_output=True, text=True, timeout=120
    )
    text = out.stdout + out.stderr
    assert "Unable to parse" not in text
    for name in names:
        assert f"  {name}: " in text, name


def test_jobs_cover_every_pipeline_row_of_the_manifest():
    j = jobs("cpu", "synthetic", None, Path("/o"), Path("/f"), Path("/t.md"))
    names = [job.name for job in j]
    assert names[0] == "01_data_exploration" and names[-1] == "08_compare"
    assert {
        "05_resnet_unet_l1",
        "05_resnet_unet_berhu",
        "05_resnet_unet_ssim_l1",
        "05_resnet_unet_l1_report_split",
        "04_resnete_decoder_v3_aspect",
    } <= set(names)
    assert [job.row for job in j if job.row] == pipeline_rows() and len(pipeline_rows()) == len(report_rows()) + 4
    epochs = {job.name: job.epochs for job in j}
    assert epochs["07_densenet_unet"] == 10 and epochs["03_resnete_decoder_v2"] == 3  # 25 / 10 rounded up
    for job in j[1:-1]:  # a row's notebook gets its name and the profile; the manifest makes its configuration
        assert job.params["row"] == job.row.name and job.params["profile"] == "cpu"
        assert job.run == Path("/o/runs") / job.row.name and job.params["run_dir"] == str(job.run)


def test_every_job_passes_only_parameters_its_notebook_declares():
    import papermill as pm

    for job in jobs("smoke", "synthetic", None, Path("/o"), Path("/f"), Path("/t.md")):
        declared = pm.inspect_notebook(str(NOTEBOOK_DIR / f"{job.notebook}.ipynb"))
        assert set(job.params) <= set(declared), (job.notebook, set(job.params) - set(declared))


def _histories(out: Path) -> dict[str, list[dict]]:
    """Every row's history without its timing columns (wall-clock times differ between runs)."""
    from depthutils.run_folder import read_history

    return {
        p.parent.name: [
            {k: v for k, v in r.items() if k not in ("epoch_time_s", "images_per_s")} for r in read_history(p)
        ]
        for p in sorted((out / "runs").glob("*/history.csv"))
    }


@pytest.mark.slow
def test_smoke_pipeline_end_to_end_and_resume_after_a_kill(tmp_path, capsys):
    out = tmp_path / "smoke"
    assert run_pipeline(profile="smoke", data="synthetic", out=out) == 0
    printed = capsys.readouterr().out
    n = 2 + len(pipeline_rows())  # 01, every row's notebook run, 08
    assert n == 14 and f"[{n}/{n}] 08_compare done" in printed
    executed = sorted(p.name for p in (out / "notebooks").glob("*.ipynb"))
    assert len(executed) == n
    state = json.loads((out / "pipeline.json").read_text())
    assert state["profile"] == "smoke" and len(state["done"]) == n and state["peak_kernel_rss_gb"] > 0
    tables = (out / "tables.md").read_text()
    assert "ResNet UNet, SSIM+L1" in tables and "synthetic" in tables
    assert "Encoders: imagenet or scratch (the encoder column says which)" in tables  # the Lite0 pair's two starts
    assert "Baseline: mean training depth map" in tables and "Baseline: constant training median" in tables
    assert "report split" in tables
    assert (out / "figures" / "figure3_predictions.png").stat().st_size > 1000
    for nb in (out / "notebooks").glob("*.ipynb"):  # executed copies carry no absolute path of this machine
        assert str(out) not in nb.read_text() and str(Path.cwd()) not in nb.read_text(), nb.name
    for row in (
        "resnet_unet",
        "resnet_unet_berhu",
        "resnet_unet_ssim_l1",
        "densenet_unet",
        "resnet_unet_report_split",
        "resnete_decoder_v3_aspect",
    ):
        assert json.loads((out / "runs" / row / "results.json").read_text())["epochs"] == 1
    ref = _histories(out)
    assert pipeline_status(out) == 0
    status = capsys.readouterr().out
    assert "02_resnete_decoder_v1" in status and "1/1    epochs  finished" in status and "ETA: 0.0 h" in status

    # A run of the same command again skips every finished row and re-runs only the comparison.
    assert run_pipeline(profile="smoke", data="synthetic", out=out) == 0
    printed = capsys.readouterr().out
    assert printed.count("done earlier, skipped") == n - 1 and _histories(out) == ref

    # A row killed during its first epoch (only its config.json written) is trained again, and every history
    # ends as in the uninterrupted run.
    row = out / "runs" / "resnete_decoder_v2"
    for name in ("results.json", "last.pt", "best.pt", "history.csv"):
        (row / name).unlink()
    # A row whose training finished but whose notebook was killed while plotting: its notebook runs again and
    # continues the finished run, which is kept as it is (the pipeline passes resume=True).
    kept = out / "runs" / "de_noskip" / "results.json"
    before = (kept.read_bytes(), kept.stat().st_mtime_ns)
    state["done"] = [d for d in state["done"] if d not in ("03_resnete_decoder_v2", "06_de_noskip")]
    (out / "pipeline.json").write_text(json.dumps(state))
    assert run_pipeline(profile="smoke", data="synthetic", out=out) == 0
    printed = capsys.readouterr().out
    assert "[3/14] 03_resnete_decoder_v2 done" in printed and "06_de_noskip done" in printed
    assert _histories(out) == ref
    assert (kept.read_bytes(), kept.stat().st_mtime_ns) == before

    # Another profile into the same folder is refused, naming the difference.
    with pytest.raises(ValueError, match="profile: 'smoke' there, 'cpu' asked"):
        run_pipeline(profile="cpu", data="synthetic", out=out)


@pytest.mark.slow
def test_failing_notebook_is_named(tmp_path, capsys):
    rc = run_pipeline(profile="smoke", data=str(tmp_path / "no_such_data"), out=tmp_path / "f", only="01")
    assert rc == 1
    err = capsys.readouterr().err
    assert "notebook 01_data_exploration.ipynb" in err and "cell" in err and "FileNotFoundError" in err


@pytest.mark.slow
def test_a_row_trained_on_its_own_is_found_finished_by_the_pipeline(tmp_path, capsys):
    from depthutils.cli import main

    out = tmp_path / "rows"
    assert (
        main(
            ["pipeline", "--profile", "smoke", "--data", "synthetic", "--out", str(out), "--row", "resnete_decoder_v1"]
        )
        == 0
    )
    row = out / "runs" / "resnete_decoder_v1"
    history = (row / "history.csv").read_text()
    assert json.loads((row / "results.json").read_text())["config"]["extra"]["profile"] == "smoke"
    assert run_pipeline(profile="smoke", data="synthetic", out=out, only="01,02") == 0
    assert (row / "history.csv").read_text() == history  # the notebook resumed a finished run: nothing retrained
    capsys.readouterr()
    assert main(["pipeline", "--profile", "smoke", "--out", str(out), "--row", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no row 'nope' in profile 'smoke'; rows: resnete_decoder_v1" in err  # the pipeline's rows, in run order
    assert main(["pipeline", "--profile", "smoke", "--out", str(out), "--row", "compact"]) == 2
    assert "trained by python -m depthutils ladder compact, not by the pipeline" in capsys.readouterr().err


@pytest.mark.slow
def test_notebook_09_finds_its_files_from_any_working_directory(tmp_path, monkeypatch):
    """papermill without --cwd used to write ../runs/demo outside the repository and find no example photo."""
    import papermill as pm

    monkeypatch.chdir(tmp_path)
    out_dir = tmp_path / "clouds"  # an absolute out_dir stays as given
    pm.execute_notebook(
        str(NOTEBOOK_DIR / "09_try_your_photo.ipynb"),
        str(tmp_path / "09.ipynb"),
        parameters={"out_dir": str(out_dir)},
        kernel_name="python3",
        progress_bar=False,
    )
    assert sorted(p.name for p in out_dir.glob("*.ply")) == ["tum_desk.ply"]  # the example photo, found
    text = (tmp_path / "09.ipynb").read_text()
    assert "NYU frames" in text and not (tmp_path.parent / "runs" / "demo").exists()


def test_the_training_notebooks_share_every_code_cell_but_the_parameters():
    """One notebook per model, as the design asks, and one code: a fix made to one must reach all of them."""
    paths = sorted(p for p in NOTEBOOKS if p.stem[:2] in {"02", "03", "04", "05", "06", "07", "10"})
    assert len(paths) == 7
    cells = {}
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), p.name
        cells[p.stem] = [c.source for c in code[1:]]
    first, *rest = paths
    for p in rest:
        differ = [i + 2 for i, (a, b) in enumerate(zip(cells[p.stem], cells[first.stem])) if a != b]
        assert len(cells[p.stem]) == len(cells[first.stem]) and not differ, f"{p.name}: code cells {differ} differ"
