"""The study's tables: missing rows, baseline rows, intervals, paired comparisons, finding a trained model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depthutils.compare import (
    TableRow,
    baseline_rows,
    baseline_verdicts,
    beats,
    collect_results,
    difference_table,
    headline_markdown,
    headline_rows,
    pairwise_table,
    printed_against_baseline,
    question_table,
    report_table,
    separated,
    standard_table,
    write_report_tables,
)
from depthutils.study import CONTRASTS, QUESTIONS, get_row, report_rows

REPORT_ROWS = report_rows()


def _result(delta1: list[float], abs_rel: list[float], title: str = "ResNet UNet", test: list | None = None) -> dict:
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
        "dataset": {"test_indices": test if test is not None else list(range(len(delta1)))},
        "protocols": {
            "standard": std,
            "report": {"l1_global": 0.1, "l1_per_image": 0.3, "mse_global": 0.01, "mse_per_image": 0.1},
        },
        "per_image": {"standard": per},
    }


def test_missing_rows_stay_in_the_table_as_dashes(tmp_path):
    run = REPORT_ROWS[3].name
    (tmp_path / run).mkdir()
    (tmp_path / run / "results.json").write_text(json.dumps(_result([0.5, 0.6], [0.3, 0.2])))
    rows = collect_results(tmp_path)
    assert [r.title for r in rows] == [r.title for r in REPORT_ROWS]  # every report row, in order
    head, body = standard_table(rows)
    assert sum(b[1] != "–" for b in body) == 1 and body[0][1] == "–"
    assert body[3][1] == "0.550 [0.500, 0.600]"
    head, body = report_table(rows)
    assert body[3][4] == "0.1000" and body[0][4] == "–"


def test_extra_rows_follow_the_report_rows_with_their_fixed_or_derived_titles(tmp_path):
    for name in ("resnete_decoder_v3_aspect", "improved"):
        res = {**_result([0.5, 0.6], [0.3, 0.2]), "title": "Net", "epochs": 200, "config": {"image_size": [96, 128]}}
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(res))
    rows = collect_results(tmp_path)
    assert [r.title for r in rows[len(REPORT_ROWS) :]] == [
        get_row("resnete_decoder_v3_aspect").title,
        "Net, improved recipe (96x128, 200 epochs)",  # its recipe is the ladder's choice: from its results
    ]
    assert [r.run for r in rows[len(REPORT_ROWS) :]] == ["resnete_decoder_v3_aspect", "improved"]


def test_baseline_rows_are_labelled_image_blind():
    base = {"rows": {"mean_map": _result([0.4], [0.4], "Baseline: mean training depth map")}}
    rows = baseline_rows(base)
    assert rows[0].kind == "baseline" and rows[0].title == "Baseline: mean training depth map"
    body = standard_table(rows)[1][0]
    assert body[-1] == "image-blind" and body[-4] == "–"  # no parameters, time or precision for a baseline


def test_separated_only_when_intervals_do_not_overlap():
    a = TableRow("x", None, _result([0.50, 0.52], [0.3, 0.3]))
    b = TableRow("x", None, _result([0.51, 0.55], [0.3, 0.3]))
    c = TableRow("x", None, _result([0.60, 0.62], [0.3, 0.3]))
    assert separated(a, b, "delta1") is False and separated(a, c, "delta1") is True
    assert separated(a, TableRow("x", None, None), "delta1") is None


def test_paired_table_gives_the_per_image_difference():
    a = _result([0.5, 0.6, 0.7], [0.3, 0.2, 0.1])
    b = _result([0.6, 0.7, 0.8], [0.3, 0.2, 0.1])
    text = difference_table(a, b, ("a", "b"))
    line = next(row for row in text.splitlines() if row.startswith("| δ1"))
    assert "+0.100 [+0.100, +0.100]" in line  # every image gained exactly 0.1
    assert "+0.000" in next(row for row in text.splitlines() if row.startswith("| AbsRel"))


def _noisy(mean: float, n: int = 200, seed: int = 0, spread: float = 0.2) -> list[float]:
    """Per-image values: a shared image difficulty (the same for every seed) plus a small model-specific part."""
    difficulty = np.random.default_rng(99).normal(0, spread, n)
    return list(mean + difficulty + np.random.default_rng(seed).normal(0, 0.01, n))


def _model(run: str, d1: list[float], rel: list[float], test: list | None = None) -> TableRow:
    from depthutils.metrics import bootstrap_ci

    res = _result(d1, rel, run, test)
    res["protocols"]["standard"]["ci"] = {k: list(bootstrap_ci(v)) for k, v in res["per_image"]["standard"].items()}
    return TableRow(run, run, res)


def _baselines(d1: float, rel: float, n: int = 200) -> list[TableRow]:
    file = {"rows": {"mean_map": _model("mean", _noisy(d1, n), _noisy(rel, n)).results}, "test_indices": None}
    file["test_indices"] = list(range(n))
    return baseline_rows(file)


def test_beats_respects_the_direction_of_each_metric():
    good, bad = _model("good", _noisy(0.7), _noisy(0.2)), _model("bad", _noisy(0.4), _noisy(0.4))
    assert beats(good, bad, "delta1") and beats(good, bad, "abs_rel")  # higher δ1, lower AbsRel
    assert not beats(bad, good, "delta1") and not beats(bad, good, "abs_rel")
    assert beats(good, _model("same", _noisy(0.7, seed=1), _noisy(0.2, seed=1)), "delta1") is False


def test_baseline_verdicts_need_intervals_clear_of_every_baseline_on_the_same_images():
    base = _baselines(0.43, 0.40)
    rows = [
        _model("clear", _noisy(0.6), _noisy(0.25)),
        _model("half", _noisy(0.6), _noisy(0.40, seed=2)),  # δ1 clear, AbsRel inside the baseline's interval
        _model("other_split", _noisy(0.6), _noisy(0.25), test=list(range(1000, 1200))),
        TableRow("missing", "m", None),
    ] + base
    head, body = baseline_verdicts(rows)
    assert head[1:] == ["beats both baselines on δ1", "beats both baselines on AbsRel"]
    assert body == [["clear", "yes", "yes"], ["half", "yes", "no"], ["other_split", "–", "–"], ["missing", "–", "–"]]


def test_pairwise_table_marks_only_differences_the_paired_interval_resolves():
    rows = [
        _model("a", _noisy(0.50), _noisy(0.3)),
        _model("b", _noisy(0.52, seed=1), _noisy(0.3, seed=1)),  # +0.02 on every image, noise 0.01: resolved
        _model("c", _noisy(0.50, seed=2), _noisy(0.3, seed=2)),  # the same as a up to noise: unresolved
        _model("elsewhere", _noisy(0.9), _noisy(0.1), test=list(range(1000, 1200))),  # other test images: left out
    ]
    head, body = pairwise_table(rows, "delta1")
    assert head == ["line − column", "a", "b", "c"]
    cell = {(line[0], col): v for line in body for col, v in zip(head[1:], line[1:])}
    assert float(cell[("b", "a")].split()[0]) == pytest.approx(0.02, abs=0.003) and cell[("b", "a")].endswith("✓")
    assert float(cell[("a", "b")].split()[0]) == pytest.approx(-0.02, abs=0.003) and cell[("a", "b")].endswith("✓")
    assert "✓" not in cell[("a", "c")] and cell[("a", "a")] == "·"
    # the standard table's brackets overlap for a and b (image difficulty dominates): only the paired view resolves
    assert beats(rows[1], rows[0], "delta1") is False


def test_question_table_gives_each_paired_difference_with_its_interval():
    (q1, a, b), (c, d) = (QUESTIONS[0].question, QUESTIONS[0].a, QUESTIONS[0].b), (QUESTIONS[3].a, QUESTIONS[3].b)
    rows = [
        _model(a, _noisy(0.50), _noisy(0.30)),
        _model(b, _noisy(0.53, seed=1), _noisy(0.30, seed=1)),  # δ1 +0.03 on every image: resolved; AbsRel: not
        _model(c, _noisy(0.50), _noisy(0.30)),
        _model(d, _noisy(0.60), _noisy(0.20), test=list(range(1000, 1200))),  # other test images: left out
    ]
    head, body = question_table(rows)
    assert head[0] == "question (a → b)" and head[1].startswith("δ1 b − a")
    assert [line[0] for line in body] == [q1]  # QUESTIONS[3]'s rows are on different test images; the rest are missing
    d1, rel = body[0][1], body[0][2]
    assert d1.endswith(" ✓") and float(d1.split()[0]) == pytest.approx(0.03, abs=0.003)
    lo, hi = (float(v) for v in d1.split("[")[1].split("]")[0].split(","))
    assert 0 < lo < 0.03 < hi
    assert "✓" not in rel


def test_headline_rows_are_the_best_and_those_it_does_not_separate_then_the_baselines():
    rows = [
        _model("low", _noisy(0.30), _noisy(0.5), test=None),
        _model("best", _noisy(0.62, seed=1), _noisy(0.2)),
        _model("close", _noisy(0.60, seed=2), _noisy(0.2)),
    ]
    rows[0].results["protocols"]["standard"]["ci"]["delta1"] = [0.29, 0.31]  # clearly below
    got = headline_rows(rows + _baselines(0.43, 0.40))
    assert [r.title for r in got] == ["best", "close", "mean"]
    assert headline_rows([]) == []


def test_generated_report_has_the_verdicts_the_resolved_pairs_and_the_contrasts(tmp_path):
    a_run, b_run, what = (
        CONTRASTS[0].a,
        CONTRASTS[0].b,
        CONTRASTS[0].what,
    )  # b is on other test images: an unpaired difference
    rows = [
        _model(a_run, _noisy(0.50), _noisy(0.30)),
        _model("other", _noisy(0.30), _noisy(0.45)),
        _model(b_run, _noisy(0.60, 150), _noisy(0.25, 150), test=list(range(1000, 1150))),
    ]
    for r in rows:
        r.results.update(
            dataset={
                **r.results["dataset"],
                "name": "n",
                "kind": "real",
                "split": "official",
                "n_train": 1,
                "n_test": 1,
                "gt_resolution_hw": [480, 640],
            },
            config={"image_size": [128, 128]},
            device="cpu",
            versions={},
            git_commit="x",
        )
        r.results["protocols"]["standard"]["protocol"] = {"gt_resolution_hw": [480, 640], "flip_tta": True}
    rows[1].results["config"] = {"image_size": [96, 128]}  # rows of two inputs: the provenance names both
    text = write_report_tables(rows + _baselines(0.43, 0.40), tmp_path / "t.md", {}).read_text()
    assert "model input (H×W) 128×128 or 96×128 (each row’s config.json says which)." in text
    assert "## Against the baselines" in text and f"| {a_run} | yes | yes |" in text
    assert f"| {b_run} | – | – |" in text  # no baseline on its test images
    assert f"## {a_run} against {b_run}: {what}" in text and "(unpaired)" in text
    assert "Which differences are resolved: δ1" in text
    readme = headline_markdown(rows + _baselines(0.43, 0.40), figure="f.png", report="r.md")
    assert readme.startswith("![Figure 3") and "(f.png)" in readme and "[the generated report](r.md)" in readme
    assert f"| [{a_run}](r.md#standard-metrics) |" in readme and "| [mean](r.md#standard-metrics) |" in readme
    assert b_run not in readme  # the better row, but on other test images than most rows (its split)
    assert "rows are trained so far" not in readme  # every row of this table has results
    for r in rows:
        r.report_epochs = 50
    missing = TableRow("later", "later", None, report_epochs=50)
    text = headline_markdown([*rows, missing], figure=None, report="r.md")
    assert "**3 of the report's 4 rows are trained so far.**" in text


def test_printed_values_are_counted_against_the_mean_map_under_each_reading(tmp_path):

    base = _baselines(0.43, 0.40)
    base[0].results["protocols"]["report"] = {
        "l1_global": 0.09,
        "l1_per_image": 0.29,
        "mse_global": 0.015,
        "mse_per_image": 0.2,
    }
    rows = [
        TableRow("a", "a", None, 0.085, 0.016),  # L1 below the mean map ÷10 m, MSE above
        TableRow("b", "b", None, 0.100, 0.020),  # both above ÷10 m
        TableRow("no print", "c", None),  # a row the report did not print is not counted
    ]
    assert printed_against_baseline(rows + base) == [
        "÷10 m: 1 of 2 printed L1 and 0 of 2 printed MSE values are below the mean-map baseline (L1 0.0900, "
        "MSE 0.0150)",
        "per image: 2 of 2 printed L1 and 2 of 2 printed MSE values are below the mean-map baseline (L1 0.2900, "
        "MSE 0.2000)",
    ]
    assert printed_against_baseline(rows) == []  # no baseline, no verdict
    assert printed_against_baseline(rows[2:] + base) == []  # nothing printed, nothing to count
    assert "of 2 printed L1" in write_report_tables(rows + base, tmp_path / "t.md", {}).read_text()


def test_one_interval_formatter_for_every_table():
    from depthutils.compare import format_ci

    assert format_ci(0.2061, 0.1912, 0.2214) == "+0.206 [+0.191, +0.221]"
    assert format_ci(0.735, 0.72, 0.75, signed=False) == "0.735 [0.720, 0.750]"
    assert format_ci(-0.0001, -0.0004, 0.0002, digits=3) == "-0.000 [-0.000, +0.000]"
    assert format_ci(None, 0.1, float("nan"), signed=False, digits=2) == "– [0.10, –]"
