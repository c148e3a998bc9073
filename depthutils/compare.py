"""Collecting results into the study's tables: the report's table (its Figure 2) and the standard table, each
with the image-blind baselines as rows, and the generated Markdown for report/generated/."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import study
from .study import CONTRASTS, QUESTIONS, Question, row_title

__all__ = [
    "format_ci",
    "StudyTable",
    "study_table",
    "write_study_report",
    "collect_results",
    "baseline_rows",
    "report_table",
    "standard_table",
    "to_markdown",
    "provenance",
    "write_report_tables",
    "separated",
    "beats",
    "baseline_verdicts",
    "printed_against_baseline",
    "pairwise_table",
    "headline_rows",
    "headline_markdown",
    "difference_table",
    "question_table",
]

#: The metrics of two-run comparisons: (key, label, decimals).
PAIRED_KEYS = (("delta1", "δ1", 3), ("abs_rel", "AbsRel", 3), ("rmse", "RMSE [m]", 3), ("l1_global", "L1 ÷10 m", 4))


@dataclass
class TableRow:
    """One row of the study's tables: a trained row (``kind`` 'model': ``results`` is its results.json, None while
    the run is missing or unfinished) or an image-blind baseline (``kind`` 'baseline', scored on ``test_indices``).
    The report's own rows carry what it printed (L1 and MSE normalised by 10 m) and its epochs."""

    title: str
    run: str | None
    results: dict[str, Any] | None
    report_l1: float | None = None
    report_mse: float | None = None
    report_epochs: int | None = None
    kind: str = "model"
    test_indices: list[int] | None = None


def collect_results(runs_dir: str | Path) -> list[TableRow]:
    """The study's rows (:data:`depthutils.study.ROWS`): the report's rows always (results None when a run is
    missing or unfinished), then the extra rows whose run exists."""
    runs_dir = Path(runs_dir)
    rows = []
    for r in study.ROWS:  # read at call time: a row added to the manifest is a row here
        p = runs_dir / r.name / "results.json"
        res = json.loads(p.read_text()) if p.exists() else None
        if r.in_report_table:
            l1, mse = r.printed or (None, None)
            rows.append(TableRow(r.title or r.name, r.name, res, l1, mse, r.epochs))
        elif res:
            rows.append(TableRow(row_title(r, res), r.name, res))
    return rows


def baseline_rows(baselines: dict[str, Any] | None, label: str | None = None) -> list[TableRow]:
    """The baselines file's rows in the layout of collect_results (kind 'baseline'); ``label`` is appended to
    their titles in brackets (e.g. the split, when a table holds the baselines of two)."""
    if not baselines:
        return []
    suffix = f" ({label})" if label else ""
    return [
        TableRow(r["title"] + suffix, name, r, kind="baseline", test_indices=baselines.get("test_indices"))
        for name, r in baselines["rows"].items()
    ]


def _test_images(r: TableRow) -> list | None:
    """The test indices a row was scored on (a model's from its results, a baseline's from its file)."""
    if r.test_indices is not None:
        return r.test_indices
    return ((r.results or {}).get("dataset") or {}).get("test_indices")


def _trained(r: TableRow) -> dict[str, Any]:
    """A trained row's results (the callers pass only rows with results)."""
    assert r.results is not None
    return r.results


def _f(v: Any, nd: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def format_ci(value: float | None, lo: float | None, hi: float | None, *, digits: int = 3, signed: bool = True) -> str:
    """A value with its interval as every table prints it: '+0.206 [+0.191, +0.221]' (``signed``: a difference),
    '0.735 [0.720, 0.750]' otherwise; a missing or NaN number prints as '–'. The one interval formatter of the
    tables, the README's blocks and the tools."""

    def f(x: float | None) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "–"
        return f"{x:{'+' if signed else ''}.{digits}f}"

    return f"{f(value)} [{f(lo)}, {f(hi)}]"


def _ci(m: dict, key: str, nd: int) -> str:
    """'0.512 [0.498, 0.526]': the mean and its 95% bootstrap interval."""
    lo, hi = (m.get("ci") or {}).get(key, (None, None))
    return format_ci(m.get(key), lo, hi, digits=nd, signed=False) if lo is not None else _f(m.get(key), nd)


def _protocol(r: TableRow, name: str) -> dict:
    return ((r.results or {}).get("protocols") or {}).get(name, {})


def report_table(rows: list[TableRow]) -> tuple[list[str], list[list[str]]]:
    """Figure 2 rebuilt: the report's printed L1/MSE beside ours under both readings of its normalisation
    (global ÷ 10 m, and per image min–max), at the model's resolution (the report protocol)."""
    head = [
        "row",
        "report epochs",
        "our epochs",
        "report L1",
        "L1 (÷10 m)",
        "L1 (per image)",
        "report MSE",
        "MSE (÷10 m)",
        "MSE (per image)",
    ]
    body = []
    for r in rows:
        m = _protocol(r, "report")
        body.append(
            [
                r.title,
                _f(r.report_epochs),
                _f((r.results or {}).get("epochs")),
                _f(r.report_l1),
                _f(m.get("l1_global")),
                _f(m.get("l1_per_image")),
                _f(r.report_mse),
                _f(m.get("mse_global")),
                _f(m.get("mse_per_image")),
            ]
        )
    return head, body


def standard_table(rows: list[TableRow]) -> tuple[list[str], list[list[str]]]:
    """The standard protocol (ground truth at full resolution, Eigen crop, flip TTA) with 95% bootstrap intervals
    over test images; then edge sharpness (report protocol), size, training time, precision, encoder."""
    head = [
        "row",
        "δ1 ↑ [95% CI]",
        "AbsRel ↓ [95% CI]",
        "RMSE [m] ↓ [95% CI]",
        "L1 ÷10 m ↓ [95% CI]",
        "δ2 ↑",
        "log10 ↓",
        "ε_acc [px] ↓",
        "params [M]",
        "train time [min]",
        "precision",
        "encoder",
    ]
    body = []
    for r in rows:
        res = r.results or {}
        m, rep = _protocol(r, "standard"), _protocol(r, "report")
        model = r.kind == "model"
        body.append(
            [
                r.title,
                _ci(m, "delta1", 3),
                _ci(m, "abs_rel", 3),
                _ci(m, "rmse", 3),
                _ci(m, "l1_global", 4),
                _f(m.get("delta2"), 3),
                _f(m.get("log10"), 3),
                _f(rep.get("dbe_acc"), 2),
                _f(res["model_meta"]["n_params"] / 1e6, 1) if model and res else "–",
                _f(res["train_time_s"] / 60, 1) if model and res else "–",
                res.get("precision", "–") if model else "–",
                res.get("pretrained", {}).get("used", "–") if model else "image-blind",
            ]
        )
    return head, body


def separated(a: TableRow, b: TableRow, key: str, protocol: str = "standard") -> bool | None:
    """True when the 95% intervals of ``key`` for rows ``a`` and ``b`` do not overlap (None when one is missing)."""
    ia = (_protocol(a, protocol).get("ci") or {}).get(key)
    ib = (_protocol(b, protocol).get("ci") or {}).get(key)
    if not ia or not ib or any(v is None for v in (*ia, *ib)):
        return None
    return ia[1] < ib[0] or ib[1] < ia[0]


#: Metrics where higher is better (every other key is an error: lower is better).
_HIGHER_IS_BETTER = {"delta1", "delta2", "delta3"}
_LABEL = {key: label for key, label, _ in PAIRED_KEYS}


def beats(a: TableRow, b: TableRow, key: str, protocol: str = "standard") -> bool | None:
    """True when row ``a``'s 95% interval of ``key`` lies entirely on the better side of row ``b``'s (above it for
    δ, below it for errors); None when either interval is missing."""
    apart = separated(a, b, key, protocol)
    if apart is None:
        return None
    ma, mb = _protocol(a, protocol)[key], _protocol(b, protocol)[key]
    return bool(apart and (ma > mb) == (key in _HIGHER_IS_BETTER))


def baseline_verdicts(rows: list[TableRow], keys: tuple[str, ...] = ("delta1", "abs_rel")) -> tuple[list, list]:
    """For every trained row: does it beat every image-blind baseline scored on the same test images, on each of
    ``keys``, with the intervals apart (the study's target)? 'yes', 'no', or '–' (no result, or no baseline for
    its test images, e.g. a row on another split)."""
    bases = [r for r in rows if r.kind == "baseline"]
    head = ["row", *(f"beats both baselines on {_LABEL.get(k, k)}" for k in keys)]
    body = []
    for r in rows:
        if r.kind != "model":
            continue
        own = [b for b in bases if r.results and _test_images(b) == _test_images(r)]
        cells = []
        for k in keys:
            got = [beats(r, b, k) for b in own]
            cells.append("–" if not got or None in got else ("yes" if all(got) else "no"))
        body.append([r.title, *cells])
    return head, body


def _primary(rows: list[TableRow]) -> list[TableRow]:
    """The trained rows with results on the test images that most of them share (the primary split)."""
    done = [r for r in rows if r.kind == "model" and r.results]
    sets = [_test_images(r) for r in done]
    return [r for r in done if _test_images(r) == max(sets, key=sets.count)] if done else []


def pairwise_table(rows: list[TableRow], key: str = "delta1", protocol: str = "standard") -> tuple[list, list]:
    """Which differences between trained rows the test set resolves: for every pair scored on the same test
    images, the paired per-image difference (line − column) of ``key`` with a ✓ where its 95% bootstrap interval
    excludes zero. Paired intervals are narrower than the overlap of the two rows' own intervals (image
    difficulty cancels), so this resolves more than the standard table's brackets do."""
    same = _primary(rows)
    if not same:
        return ["row"], []
    head = ["line − column", *(r.run for r in same)]
    body = []
    for r in same:
        cells = []
        for c in same:
            if c is r:
                cells.append("·")
                continue
            d, lo, hi = _bootstrap_difference(_trained(c), _trained(r), key, paired=True, protocol=protocol)
            cells.append(f"{d:+.3f}{' ✓' if lo > 0 or hi < 0 else ''}")
        body.append([r.run, *cells])
    return head, body


def headline_rows(rows: list[TableRow], key: str = "delta1") -> list[TableRow]:
    """The README's rows: the best trained row on ``key`` (standard protocol) and every row its interval does not
    separate from it, then the baselines; all on the test images that most rows share (the primary split)."""
    done = _primary(rows)
    if not done:
        return []
    ref = _test_images(done[0])
    sign = 1 if key in _HIGHER_IS_BETTER else -1
    best = max(done, key=lambda r: sign * _protocol(r, "standard")[key])
    top = [r for r in done if r is best or separated(r, best, key) is False]
    top.sort(key=lambda r: -sign * _protocol(r, "standard")[key])
    return top + [r for r in rows if r.kind == "baseline" and _test_images(r) == ref]


def headline_markdown(rows: list[TableRow], *, figure: str | None, report: str) -> str:
    """The README's results: Figure 3, one line of provenance, and the standard table's headline rows
    (:func:`headline_rows`), each linked to the generated report. ``figure`` and ``report``: links relative to the
    README (``figure`` None: not drawn yet, left out)."""
    top = headline_rows(rows)
    if not top:
        return ""
    prov = provenance(rows)
    head, body = standard_table(top)
    cols = [0, 1, 2, 3, 8, 9, 10, 11]  # row, δ1, AbsRel, RMSE, params, train time, precision, encoder
    for line in body:
        line[0] = f"[{line[0]}]({report}#standard-metrics)"
    enc = (
        "from scratch"
        if prov.get("encoders") == ["scratch"]
        else _listing(prov.get("encoders", []), "the encoder column")
    )
    table = [r for r in rows if r.kind == "model" and r.report_epochs]  # the report's table rows
    done = sum(bool(r.results) for r in table)
    partial = [f"**{done} of the report's {len(table)} rows are trained so far.**", ""] if done < len(table) else []
    picture = [f"![Figure 3: the same test images through every trained row]({figure})", ""] if figure else []
    return "\n".join(
        [
            *picture,
            *partial,
            f"{prov.get('data')}, `{prov.get('split')}` split ({prov.get('n_test')} test images), standard protocol "
            f"(prediction upsampled to the {prov['gt_resolution_hw'][0]}×{prov['gt_resolution_hw'][1]} ground "
            f"truth, Eigen crop, flip TTA), encoders {enc}, {', '.join(prov.get('precision', []))} on "
            f"{'; '.join(prov.get('device', []))}. The best row on δ1, the rows whose 95% interval does not separate "
            f"from it, and the image-blind baselines; every row, both protocols and which differences are resolved: "
            f"[the generated report]({report}).",
            "",
            to_markdown([head[c] for c in cols], [[line[c] for c in cols] for line in body]),
        ]
    )


def to_markdown(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _listing(values: list[str], where: str) -> str:
    """One value as it is; several as "a or b (<where> says which)"."""
    return values[0] if len(values) == 1 else f"{' or '.join(values)} ({where} says which)"


def provenance(rows: list[TableRow]) -> dict[str, Any]:
    """What the results rest on: data, split, ground truth, device, precision, encoders, versions, commits."""
    got = [r.results for r in rows if r.results and r.kind == "model"]
    if not got:
        return {}
    first = got[0]
    ds = first["dataset"]
    std = first["protocols"]["standard"]["protocol"]
    return {
        "data": f"{ds['name']} ({ds['kind']})",
        "split": ds["split"],
        "n_train": ds["n_train"],
        "n_val": ds.get("n_val"),
        "n_test": ds["n_test"],
        "resolution_wh": ds.get("resolution_wh"),
        "image_size": sorted({"×".join(map(str, g["config"]["image_size"])) for g in got}),
        "gt_resolution_hw": std["gt_resolution_hw"],
        "flip_tta": std["flip_tta"],
        "device": sorted({g["device"] for g in got}),
        "precision": sorted({g.get("precision", "fp32") for g in got}),
        "encoders": sorted({g["pretrained"]["used"] for g in got}),
        "versions": first["versions"],
        "git_commit": sorted({g["git_commit"] for g in got}),
        "profile": first["config"].get("extra", {}).get("profile"),
        "train_time_min": sum(g["train_time_s"] for g in got) / 60,
    }


def printed_against_baseline(rows: list[TableRow]) -> list[str]:
    """What the report's printed L1 and MSE would mean under each reading of its normalisation: how many lie
    below the mean-map baseline's value (report protocol, the first baseline rows' data and split). One line per
    reading; none without a mean-map baseline row or printed values."""
    mean_map = next((r for r in rows if r.kind == "baseline" and r.run == "mean_map"), None)
    printed = [r for r in rows if r.kind == "model" and r.report_l1 is not None]
    if mean_map is None or not printed:
        return []
    m = _protocol(mean_map, "report")
    lines = []
    for reading, label in (("global", "÷10 m"), ("per_image", "per image")):
        l1 = sum(r.report_l1 < m[f"l1_{reading}"] for r in printed)
        mse = sum(r.report_mse < m[f"mse_{reading}"] for r in printed)
        lines.append(
            f"{label}: {l1} of {len(printed)} printed L1 and {mse} of {len(printed)} printed MSE values are below "
            f"the mean-map baseline (L1 {m[f'l1_{reading}']:.4f}, MSE {m[f'mse_{reading}']:.4f})"
        )
    return lines


def _header_lines(rows: list[TableRow], prov: dict[str, Any]) -> list[str]:
    """The generated report's head: where the numbers come from (``prov``: :func:`provenance`), then the report's
    table (its Figure 2) rebuilt."""
    enc = prov.get("encoders", [])
    scratch = "trained from scratch (no ImageNet weights were loaded)"
    return [
        "<!-- generated by notebooks/08_compare.ipynb (python -m depthutils pipeline); do not edit -->",
        "",
        f"# Results: profile `{prov.get('profile')}` on {prov.get('data')}",
        "",
        f"- Data: {prov.get('data')}; split `{prov.get('split')}` with {prov.get('n_train')} training, "
        f"{prov.get('n_val')} validation (held out of the training split in contiguous blocks) and "
        f"{prov.get('n_test')} test images; stored resolution (W×H) {prov.get('resolution_wh')}, model input "
        f"(H×W) {_listing(prov.get('image_size', []), 'each row’s config.json')}.",
        f"- Encoders: {scratch if enc == ['scratch'] else _listing(enc, 'the encoder column')}. "
        f"Precision: {', '.join(prov.get('precision', []))}.",
        f"- Hardware: {'; '.join(prov.get('device', []))}. Total training time of the rows: "
        f"{prov.get('train_time_min', 0):.0f} min. Versions: {prov.get('versions')}. Commit(s): "
        f"{prov.get('git_commit')}.",
        "- Every row is its run's last epoch (best.pt, chosen on the validation subset, is not used here).",
        "- Baselines: image-blind predictors fitted on the training split (the mean depth map, and one constant, "
        "the median depth), scored by the same code on the same test images. A row that does not beat them has "
        "not learnt depth from the image.",
        "",
        "## The report's table (its Figure 2), rebuilt",
        "",
        "Report protocol: the test image and its ground truth resized to the model input, metrics at that "
        "resolution, no crop, no flip TTA. L1 and MSE on normalised depth in both readings of the report: "
        "`÷10 m` divides both maps by the 10 m maximum; `per image` maps both by the ground truth's own min–max.",
        "",
        to_markdown(*report_table(rows)),
    ]


def write_report_tables(rows: list[TableRow], path: str | Path, figures: dict[str, str | Path]) -> Path:
    """The generated part of the report: provenance, Figure 2 rebuilt, the standard table, figure links.
    ``rows`` are the model rows followed by the baseline rows."""
    from ._io import write_text_atomic

    path = Path(path)
    prov = provenance(rows)
    gt = prov.get("gt_resolution_hw") or ["?", "?"]
    lines = _header_lines(rows, prov)
    printed = printed_against_baseline(rows)
    if printed:
        lines += [
            "What the report's printed numbers would mean: under each reading, how many of them lie below the "
            "mean depth map's value computed here. A printed value above it is no better than the average room "
            "under that reading.",
            "",
            *[f"- {line}" for line in printed],
            "",
        ]
    lines += [
        "## Standard metrics",
        "",
        f"Standard protocol: prediction at the model input, upsampled bilinearly to the ground truth's "
        f"{gt[0]}×{gt[1]}, Eigen crop, valid depth in (1e-3, 10] m, per-image means, flip TTA "
        f"{'on' if prov.get('flip_tta') else 'off'} for the models (off for the image-blind baselines). "
        "Brackets: 95% bootstrap intervals over test images; two rows differ only where their intervals do not "
        "overlap. ε_acc: depth-boundary accuracy at the model's resolution (pixels, truncated at 10).",
        "",
        to_markdown(*standard_table(rows)),
        "## Against the baselines",
        "",
        "The study's target: a trained row beats both image-blind baselines on δ1 and AbsRel with its 95% interval "
        "clear of theirs (standard protocol, the baselines scored on the row's own test images).",
        "",
        to_markdown(*baseline_verdicts(rows)),
    ]
    for key in ("delta1", "abs_rel"):
        head, body = pairwise_table(rows, key)
        if body:
            lines += [
                f"## Which differences are resolved: {_LABEL[key]}",
                "",
                f"Paired per-image difference of {_LABEL[key]} (line − column; standard protocol, the rows scored "
                "on the same test images). ✓: its 95% bootstrap interval excludes zero, so the test set resolves "
                "the difference; no mark: it does not. Paired intervals resolve more than the overlap of the "
                "standard table's brackets, which is the stricter reading.",
                "",
                to_markdown(head, body),
            ]
    head, body = question_table(rows)
    if body:
        lines += [
            "## The report's design questions",
            "",
            "Each question compares two rows on the same test images: the paired per-image difference b − a with "
            "its 95% bootstrap interval (standard protocol); ✓ where the interval excludes zero. For δ1 higher "
            "is better, for AbsRel and RMSE lower. Where the report's networks differ in more than the change "
            "named, the question says so.",
            "",
            to_markdown(head, body),
        ]
    by_run = {r.run: r for r in rows if r.kind == "model" and r.results}
    for c in CONTRASTS:
        if c.a in by_run and c.b in by_run:
            ra, rb = by_run[c.a], by_run[c.b]
            paired = _test_images(ra) == _test_images(rb)
            lines += [
                f"## {ra.title} against {rb.title}: {c.what}",
                "",
                "Paired: the same test images."
                if paired
                else "Unpaired: different test images, each run's resampled independently.",
                "",
                difference_table(_trained(ra), _trained(rb), (ra.title, rb.title), paired=paired),
            ]
    for title, fig in figures.items():
        link = Path(os.path.relpath(Path(fig).resolve(), path.parent.resolve()))
        lines += [f"## {title}", "", f"![{title}]({link.as_posix()})", ""]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def _bootstrap_difference(a: dict, b: dict, key: str, *, paired: bool, protocol: str) -> tuple[float, float, float]:
    """``b − a`` for one metric of two results (their per-image values) and its 95% bootstrap interval."""
    from .metrics import bootstrap_diff_ci

    pa, pb = (np.asarray(r["per_image"][protocol][key], float) for r in (a, b))
    return bootstrap_diff_ci(pa, pb, paired=paired)


def _difference(a: dict, b: dict, key: str, nd: int, *, paired: bool, protocol: str = "standard") -> tuple[str, bool]:
    """``b − a`` for one metric with its 95% bootstrap interval, "+0.015 [+0.004, +0.027]", and whether the
    interval excludes zero (the test set resolves the difference)."""
    d, lo, hi = _bootstrap_difference(a, b, key, paired=paired, protocol=protocol)
    return format_ci(d, lo, hi, digits=nd), bool(lo > 0 or hi < 0)


def question_table(rows: list[TableRow], questions: list[Question] = QUESTIONS) -> tuple[list, list]:
    """The report's design questions (:data:`depthutils.study.QUESTIONS`): for each pair of trained rows scored
    on the same test images, the paired difference b − a of δ1, AbsRel and RMSE with its 95% interval, ✓ where
    the interval excludes zero. Questions whose rows are missing, or on different test images, are left out."""
    by_run = {r.run: r for r in rows if r.kind == "model" and r.results}
    keys = PAIRED_KEYS[:3]
    head = ["question (a → b)", *(f"{label} b − a [95% CI]" for _, label, _ in keys)]
    body = []
    for q in questions:
        a, b = q.a, q.b
        if a not in by_run or b not in by_run or _test_images(by_run[a]) != _test_images(by_run[b]):
            continue
        cells = []
        for key, _, nd in keys:
            cell, resolved = _difference(_trained(by_run[a]), _trained(by_run[b]), key, nd, paired=True)
            cells.append(cell + (" ✓" if resolved else ""))
        body.append([q.question, *cells])
    return head, body


def difference_table(
    a: dict, b: dict, names: tuple[str, str], *, paired: bool = True, protocol: str = "standard"
) -> str:
    """Two runs' results: each metric for ``a`` and ``b`` with its 95% interval, and the difference b − a with
    its interval. ``paired``: both were scored on the same test images and the per-image differences are
    resampled (much narrower than either run's interval: image difficulty cancels); unpaired (e.g. two splits):
    each run's images are resampled independently. Markdown."""
    kind = "paired" if paired else "unpaired"
    lines = [f"| metric | {names[0]} | {names[1]} | {names[1]} − {names[0]} ({kind}) |", "|---|---|---|---|"]
    for key, label, nd in PAIRED_KEYS:
        cells = [_ci(r["protocols"][protocol], key, nd) for r in (a, b)]
        diff, _ = _difference(a, b, key, nd, paired=paired, protocol=protocol)
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {diff} |")
    return "\n".join(lines) + "\n"


@dataclass
class StudyTable:
    """The study's rows as the comparison notebook shows them: ``rows`` (every row of the manifest, then the
    baselines of each split its trained rows were scored on), ``trained`` (rows with results), ``primary`` (the
    trained rows on the primary split: the official one when any row is on it) and ``baselines`` (that split's
    baselines file, None when nothing is trained)."""

    rows: list[TableRow]
    trained: list[TableRow]
    primary: list[TableRow]
    baselines: dict[str, Any] | None


def study_table(runs_dir: str | Path) -> StudyTable:
    """Collect every row under ``runs_dir`` and add the image-blind baselines: those of the primary split's test
    images (cached in ``runs_dir/baselines.json``) and, labelled, those of any other split (a row on the report's
    random split is judged against the baselines of its own test images, ``baselines_<split>.json``)."""
    from .baselines import baselines_for_run

    runs_dir = Path(runs_dir)
    rows = collect_results(runs_dir)
    trained = [r for r in rows if r.results]
    primary = [r for r in trained if _trained(r)["dataset"]["split"] == "official"] or trained
    if not trained:
        return StudyTable(rows, trained, primary, None)
    base = baselines_for_run(_trained(primary[0]), runs_dir / "baselines.json")
    table = rows + baseline_rows(base)
    first_split = _trained(primary[0])["dataset"]["split"]
    for split in sorted({_trained(r)["dataset"]["split"] for r in trained} - {first_split}):
        first = next(_trained(r) for r in trained if _trained(r)["dataset"]["split"] == split)
        table += baseline_rows(baselines_for_run(first, runs_dir / f"baselines_{split}.json"), f"{split} split")
    return StudyTable(table, trained, primary, base)


def write_study_report(table: StudyTable, path: str | Path, figures_dir: str | Path) -> Path:
    """The generated Markdown of a study (:func:`write_report_tables`), linking the figures that exist in
    ``figures_dir``: Figure 3, the learning curves of every row and of each, and the data figures."""
    figures_dir = Path(figures_dir)
    curves = {r.title: figures_dir / f"{r.run}_curves.png" for r in table.trained}
    figs = {
        "Figure 3: predictions": figures_dir / "figure3_predictions.png",
        "Learning curves of every row": figures_dir / "learning_curves.png",
        "Data: depth histogram": figures_dir / "data_histogram.png",
        "Data: augmentation": figures_dir / "data_augmentation.png",
        **{f"Learning curves: {k}": v for k, v in curves.items()},
    }
    return write_report_tables(table.rows, path, {k: v for k, v in figs.items() if v.exists()})
