"""tools/cpu_gpu_agreement.py: a row trained on two machines is compared on the same test images; overlapping
intervals agree, separated ones are marked, and runs scored on other images are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import load_tool
from depthutils.metrics import bootstrap_ci


@pytest.fixture
def tool():
    return load_tool("cpu_gpu_agreement")


def _scored(delta1: np.ndarray) -> dict:
    """Report-protocol scores as an evaluation stores them: means, intervals and per-image values."""
    per = {"delta1": delta1, "abs_rel": 1 - delta1, "rmse": 2 - delta1}
    report = {k: float(v.mean()) for k, v in per.items()}
    report["ci"] = {k: list(bootstrap_ci(v)) for k, v in per.items()}
    return {"protocols": {"report": report}, "per_image": {"report": {k: v.tolist() for k, v in per.items()}}}


def _write_baselines(runs: Path, test: list[int], delta1: float = 0.4) -> None:
    rows = {"mean_map": {"title": "Baseline: mean training depth map", **_scored(np.full(len(test), delta1))}}
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "baselines.json").write_text(json.dumps({"rows": rows, "test_indices": test}))


def _write(runs: Path, row: str, delta1: np.ndarray, *, device: str, test: list[int], epochs: int = 50) -> None:
    res = {
        **_scored(delta1),
        "dataset": {"test_indices": test, "n_train": 10, "name": "nyu"},
        "precision": "bf16",
        "device": device,
        "git_commit": "0123456789",
        "versions": {"torch": "2"},
        "train_time_s": 120.0,
        "config": {"model": "m", "loss": "l1", "epochs": epochs, "seed": 0, "image_size": [128, 128]},
    }
    (runs / row).mkdir(parents=True)
    (runs / row / "results.json").write_text(json.dumps(res))


def test_overlapping_rows_agree_and_separated_ones_are_marked(tool, tmp_path):
    from depthutils.study import pipeline_rows

    first, second = (r.name for r in pipeline_rows()[:2])
    rng = np.random.default_rng(0)
    d = rng.uniform(0.3, 0.7, 200)
    test = list(range(200))
    for runs in (tmp_path / "cpu", tmp_path / "gpu"):
        _write(runs, first, d, device=runs.name, test=test)
    _write(tmp_path / "cpu", second, d, device="cpu", test=test)
    _write(tmp_path / "gpu", second, d + 0.2, device="gpu", test=test)  # far outside the other's interval
    for runs in (tmp_path / "cpu", tmp_path / "gpu"):
        _write_baselines(runs, test)
    text = tool.table(tmp_path / "cpu", tmp_path / "gpu")
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    titles = [r.title for r in pipeline_rows()[:2]]
    assert "✗" not in lines[titles[0]] and "+0.000 [+0.000, +0.000]" in lines[titles[0]]
    assert lines[titles[1]].count("✗") == 3 and "+0.200" in lines[titles[1]]
    assert "3 of 6 metric pairs agree" in text
    assert "not trained on both" in text  # the rows that neither folder holds
    # the image-blind baseline sits under the rows, paired as they are, outside the agreement count
    base = lines["Baseline: mean training depth map"]
    assert base.count("0.400 [0.400, 0.400]") == 2 and base.endswith("| – |")
    assert text.index("| Baseline: mean training depth map") > text.index(f"| {titles[1]}")
    _write_baselines(tmp_path / "gpu", test[1:] + [999])
    with pytest.raises(SystemExit, match="baselines were scored on different test images"):
        tool.table(tmp_path / "cpu", tmp_path / "gpu")


def test_runs_on_other_test_images_are_refused(tool, tmp_path):
    from depthutils.study import pipeline_rows

    row = pipeline_rows()[0].name
    d = np.full(10, 0.5)
    _write(tmp_path / "cpu", row, d, device="cpu", test=list(range(10)))
    _write(tmp_path / "gpu", row, d, device="gpu", test=list(range(1, 11)))
    with pytest.raises(SystemExit, match="different test images"):
        tool.table(tmp_path / "cpu", tmp_path / "gpu")


def test_runs_with_other_settings_are_refused(tool, tmp_path):
    from depthutils.study import pipeline_rows

    row = pipeline_rows()[0].name
    d = np.full(10, 0.5)
    _write(tmp_path / "cpu", row, d, device="cpu", test=list(range(10)))
    _write(tmp_path / "gpu", row, d, device="gpu", test=list(range(10)), epochs=25)
    with pytest.raises(SystemExit, match="differ in epochs"):
        tool.table(tmp_path / "cpu", tmp_path / "gpu")
