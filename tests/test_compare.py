"""The study's tables: missing rows, baseline rows, intervals, paired comparisons, finding a trained model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depthutils.compare import (
    baseline_rows,
    collect_results,
    find_best_checkpoint,
    paired_table,
    report_table,
    separated,
    standard_table,
)
from depthutils.config import REPORT_ROWS


def _result(delta1: list[float], abs_rel: list[float], title: str = "ResNet UNet") -> dict:
    per = {"delta1": delta1, "abs_rel": abs_rel, "rmse": abs_rel, "l1_global": abs_rel}
    std = {k: float(np.mean(v)) for k, v in per.items()}
    std["ci"] = {k: [min(v), max(v)] for k, v in per.items()}
    return {
        "title": title,
        "epochs": 3,
        "train_time_s": 60.0,
        "precision": "bf16",
        "model_meta": {"n_params": 2e6},
        "pretrained": {"used": "scratch"},
        "config": {"loss": "l1"},
        "protocols": {"standard": std, "report": {"l1_global": 0.1, "l1_per_image": 0.3}},
        "per_image": {"standard": per},
    }


def test_missing_rows_stay_in_the_table_as_dashes(tmp_path):
    run = REPORT_ROWS[3].run_name
    (tmp_path / run).mkdir()
    (tmp_path / run / "results.json").write_text(json.dumps(_result([0.5, 0.6], [0.3, 0.2])))
    rows = collect_results(tmp_path)
    assert [r["row"] for r in rows] == [r.title for r in REPORT_ROWS]  # every report row, in order
    head, body = standard_table(rows)
    assert sum(b[1] != "–" for b in body) == 1 and body[0][1] == "–"
    assert body[3][1] == "0.550 [0.500, 0.600]"
    head, body = report_table(rows)
    assert body[3][4] == "0.1000" and body[0][4] == "–"


def test_baseline_rows_are_labelled_image_blind():
    base = {"rows": {"mean_map": _result([0.4], [0.4], "Baseline: mean training depth map")}}
    rows = baseline_rows(base)
    assert rows[0]["kind"] == "baseline" and rows[0]["row"] == "Baseline: mean training depth map"
    body = standard_table(rows)[1][0]
    assert body[-1] == "image-blind" and body[-4] == "–"  # no parameters, time or precision for a baseline


def test_separated_only_when_intervals_do_not_overlap():
    a = {"results": _result([0.50, 0.52], [0.3, 0.3])}
    b = {"results": _result([0.51, 0.55], [0.3, 0.3])}
    c = {"results": _result([0.60, 0.62], [0.3, 0.3])}
    assert separated(a, b, "delta1") is False and separated(a, c, "delta1") is True
    assert separated(a, {"results": None}, "delta1") is None


def test_paired_table_gives_the_per_image_difference():
    a = _result([0.5, 0.6, 0.7], [0.3, 0.2, 0.1])
    b = _result([0.6, 0.7, 0.8], [0.3, 0.2, 0.1])
    text = paired_table(a, b, ("a", "b"))
    line = next(row for row in text.splitlines() if row.startswith("| δ1"))
    assert "+0.100 [+0.100, +0.100]" in line  # every image gained exactly 0.1
    assert "+0.000" in next(row for row in text.splitlines() if row.startswith("| AbsRel"))


def test_find_best_checkpoint_picks_the_best_row_of_the_newest_run(tmp_path):
    old, new = tmp_path / "old" / "runs", tmp_path / "new" / "runs"
    for runs, rows in ((old, {"x": 0.9}), (new, {"y": 0.4, "z": 0.6, "no_ckpt": 0.8})):
        for name, d1 in rows.items():
            (runs / name).mkdir(parents=True)
            r = _result([d1], [0.2])
            r["checkpoint"] = "last.pt"
            (runs / name / "results.json").write_text(json.dumps(r))
            if name != "no_ckpt":
                (runs / name / "last.pt").write_bytes(b"x")
    import os
    import time

    later = time.time() + 10
    for p in new.glob("*/results.json"):
        os.utime(p, (later, later))
    ck, res = find_best_checkpoint([tmp_path])
    assert ck == new / "z" / "last.pt"  # the newest study; its best row whose checkpoint is on this machine
    assert res["protocols"]["standard"]["delta1"] == pytest.approx(0.6)
    assert find_best_checkpoint([tmp_path / "nothing"]) is None
