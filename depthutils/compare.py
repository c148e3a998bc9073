"""Collecting results into the study's tables: the report's table (its Figure 2) and the standard table, each
with the image-blind baselines as rows, and the generated Markdown for report/generated/."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .config import REPORT_ROWS

__all__ = [
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
    "EXTRA_ROWS",
    "extra_row_title",
    "CONTRASTS",
    "QUESTIONS",
]

#: Run folders beside the report's rows that the tables pick up when present (title None: from the results).
EXTRA_ROWS = {
    "resnet_unet_report_split": "ResNet UNet, L1 loss (report split)",
    "resnete_decoder_v3_aspect": "ResNetE Decoder v3, 96x128 (aspect kept)",
    "improved": None,
}

#: Pairs of runs that differ in one thing, compared in the generated report: (run a, run b, what changes a → b).
CONTRASTS = [
    ("resnet_unet", "resnet_unet_report_split", "the official split → the report's random split"),
    ("resnete_decoder_v3", "resnete_decoder_v3_aspect", "a squeezed 128×128 input → a 4:3 input of 96×128"),
]

#: The metrics of two-run comparisons: (key, label, decimals).
PAIRED_KEYS = (("delta1", "δ1", 3), ("abs_rel", "AbsRel", 3), ("rmse", "RMSE [m]", 3), ("l1_global", "L1 ÷10 m", 4))

#: The report's design questions, each answered by two of its rows on the same test images: (question, run a,
#: run b). The report's networks often differ in more than one thing; the question names what else changes.
QUESTIONS = [
    ("loss, ResNet UNet: L1 → BerHu", "resnet_unet", "resnet_unet_berhu"),
    ("loss, ResNet UNet: L1 → SSIM+L1", "resnet_unet", "resnet_unet_ssim_l1"),
    ("loss, ResNet UNet: BerHu → SSIM+L1", "resnet_unet_berhu", "resnet_unet_ssim_l1"),
    ("decoder: v1 → v2 (fewer inner skips, an input skip; 25 epochs)", "resnete_decoder_v1", "resnete_decoder_v2"),
    ("skips summed (v1) → concatenated (v3)", "resnete_decoder_v1", "resnete_decoder_v3"),
    ("ResNet-34 v3 → ResNet-50 UNet (another decoder)", "resnete_decoder_v3", "resnet_unet"),
    ("encoder→decoder skips: ResNet UNet → DE NoSkip (no last stage, another decoder)", "resnet_unet", "de_noskip"),
    ("encoder, UNet decoder: ResNet-50 → DenseNet-121 (100 epochs, not 50)", "resnet_unet", "densenet_unet"),
    (
        "recipe: DenseNet UNet, the report's → the improved row (v3, 96×128, batch 16, synthetic pretraining, "
        "200 epochs)",
        "densenet_unet",
        "improved",
    ),
]


def _row(
    title: str,
    run: str | None,
    results: dict | None,
    printed: tuple = (None, None),
    report_epochs: int | None = None,
    kind: str = "model",
) -> dict[str, Any]:
    return {
        "row": title,
        "run": run,
        "results": results,
        "report_l1": printed[0],
        "report_mse": printed[1],
        "report_epochs": report_epochs,
        "kind": kind,
    }


def collect_results(runs_dir: str | Path) -> list[dict[str, Any]]:
    """The report's rows (results None when a run is missing or unfinished), then the extra rows that exist."""
    runs_dir = Path(runs_dir)

    def load(name: str) -> dict | None:
        p = runs_dir / name / "results.json"
        return json.loads(p.read_text()) if p.exists() else None

    rows = [_row(r.title, r.run_name, load(r.run_name), (r.printed_l1, r.printed_mse), r.epochs) for r in REPORT_ROWS]
    for name in EXTRA_ROWS:
        res = load(name)
        if res:
            rows.append(_row(extra_row_title(name, res), name, res))
    return rows


def extra_row_title(name: str, results: dict) -> str:
    """The title of the extra row ``name`` (a key of :data:`EXTRA_ROWS`) in every table and figure: its fixed
    title, or one derived from its results (the improved row, whose recipe the ladder chooses)."""
    size = "x".join(map(str, results["config"]["image_size"]))
    return EXTRA_ROWS[name] or f"{results['title']}, improved recipe ({size}, {results['epochs']} epochs)"


def baseline_rows(baselines: dict[str, Any] | None, label: str | None = None) -> list[dict[str, Any]]:
    """The baselines file's rows in the layout of collect_results (kind 'baseline'); ``label`` is appended to
    their titles in brackets (e.g. the split, when a table holds the baselines of two)."""
    if not baselines:
        return []
    suffix = f" ({label})" if label else ""
    rows = [_row(r["title"] + suffix, name, r, kind="baseline") for name, r in baselines["rows"].items()]
    for r in rows:
        r["test_indices"] = baselines.get("test_indices")
    return rows


def _test_images(r: dict) -> list | None:
    """The test indices a row was scored on (a model's from its results, a baseline's from its file)."""
    if r.get("test_indices") is not None:
        return r["test_indices"]
    return ((r["results"] or {}).get("dataset") or {}).get("test_indices")


def _f(v: Any, nd: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _ci(m: dict, key: str, nd: int) -> str:
    """'0.512 [0.498, 0.526]': the mean and its 95% bootstrap interval."""
    lo, hi = (m.get("ci") or {}).get(key, (None, None))
    return f"{_f(m.get(key), nd)} [{_f(lo, nd)}, {_f(hi, nd)}]" if lo is not None else _f(m.get(key), nd)


def _protocol(r: dict, name: str) -> dict:
    return ((r["results"] or {}).get("protocols") or {}).get(name, {})


def report_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
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
                r["row"],
                _f(r["report_epochs"]),
                _f((r["results"] or {}).get("epochs")),
                _f(r["report_l1"]),
                _f(m.get("l1_global")),
                _f(m.get("l1_per_image")),
                _f(r["report_mse"]),
                _f(m.get("mse_global")),
                _f(m.get("mse_per_image")),
            ]
        )
    return head, body


def standard_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
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
        res = r["results"] or {}
        m, rep = _protocol(r, "standard"), _protocol(r, "report")
        model = r["kind"] == "model"
        body.append(
            [
                r["row"],
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


def separated(a: dict, b: dict, key: str, protocol: str = "standard") -> bool | None:
    """True when the 95% intervals of ``key`` for rows ``a`` and ``b`` do not overlap (None when one is missing)."""
    ia = (_protocol(a, protocol).get("ci") or {}).get(key)
    ib = (_protocol(b, protocol).get("ci") or {}).get(key)
    if not ia or not ib or any(v is None for v in (*ia, *ib)):
        return None
    return ia[1] < ib[0] or ib[1] < ia[0]


#: Metrics where higher is better (every other key is an error: lower is better).
_HIGHER_IS_BETTER = {"delta1", "delta2", "delta3"}
_LABEL = {key: label for key, label, _ in PAIRED_KEYS}


def beats(a: dict, b: dict, key: str, protocol: str = "standard") -> bool | None:
    """True when row ``a``'s 95% interval of ``key`` lies entirely on the better side of row ``b``'s (above it for
    δ, below it for errors); None when either interval is missing."""
    apart = separated(a, b, key, protocol)
    if apart is None:
        return None
    ma, mb = _protocol(a, protocol)[key], _protocol(b, protocol)[key]
    return bool(apart and (ma > mb) == (key in _HIGHER_IS_BETTER))


def baseline_verdicts(rows: list[dict], keys: tuple[str, ...] = ("delta1", "abs_rel")) -> tuple[list, list]:
    """For every trained row: does it beat every image-blind baseline scored on the same test images, on each of
    ``keys``, with the intervals apart (the study's target)? 'yes', 'no', or '–' (no result, or no baseline for
    its test images, e.g. a row on another split)."""
    bases = [r for r in rows if r["kind"] == "baseline"]
    head = ["row", *(f"beats both baselines on {_LABEL.get(k, k)}" for k in keys)]
    body = []
    for r in rows:
        if r["kind"] != "model":
            continue
        own = [b for b in bases if r["results"] and _test_images(b) == _test_images(r)]
        cells = []
        for k in keys:
            got = [beats(r, b, k) for b in own]
            cells.append("–" if not got or None in got else ("yes" if all(got) else "no"))
        body.append([r["row"], *cells])
    return head, body


def _primary(rows: list[dict]) -> list[dict]:
    """The trained rows with results on the test images that most of them share (the primary split)."""
    done = [r for r in rows if r["kind"] == "model" and r["results"]]
    sets = [_test_images(r) for r in done]
    return [r for r in done if _test_images(r) == max(sets, key=sets.count)] if done else []


def pairwise_table(rows: list[dict], key: str = "delta1", protocol: str = "standard") -> tuple[list, list]:
    """Which differences between trained rows the test set resolves: for every pair scored on the same test
    images, the paired per-image difference (line − column) of ``key`` with a ✓ where its 95% bootstrap interval
    excludes zero. Paired intervals are narrower than the overlap of the two rows' own intervals (image
    difficulty cancels), so this resolves more than the standard table's brackets do."""
    same = _primary(rows)
    if not same:
        return ["row"], []
    head = ["line − column", *(r["run"] for r in same)]
    body = []
    for r in same:
        cells = []
        for c in same:
            if c is r:
                cells.append("·")
                continue
            d, lo, hi = _bootstrap_difference(c["results"], r["results"], key, paired=True, protocol=protocol)
            cells.append(f"{d:+.3f}{' ✓' if lo > 0 or hi < 0 else ''}")
        body.append([r["run"], *cells])
    return head, body


def headline_rows(rows: list[dict], key: str = "delta1") -> list[dict]:
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
    return top + [r for r in rows if r["kind"] == "baseline" and _test_images(r) == ref]


def headline_markdown(rows: list[dict], *, figure: str | None, report: str) -> str:
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
    table = [r for r in rows if r["kind"] == "model" and r["report_epochs"]]  # the report's table rows
    done = sum(bool(r["results"]) for r in table)
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


def provenance(rows: list[dict]) -> dict[str, Any]:
    """What the results rest on: data, split, ground truth, device, precision, encoders, versions, commits."""
    got = [r["results"] for r in rows if r["results"] and r["kind"] == "model"]
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


def printed_against_baseline(rows: list[dict]) -> list[str]:
    """What the report's printed L1 and MSE would mean under each reading of its normalisation: how many lie
    below the mean-map baseline's value (report protocol, the first baseline rows' data and split). One line per
    reading; none without a mean-map baseline row or printed values."""
    mean_map = next((r for r in rows if r["kind"] == "baseline" and r["run"] == "mean_map"), None)
    printed = [r for r in rows if r["kind"] == "model" and r["report_l1"] is not None]
    if mean_map is None or not printed:
        return []
    m = _protocol(mean_map, "report")
    lines = []
    for reading, label in (("global", "÷10 m"), ("per_image", "per image")):
        l1 = sum(r["report_l1"] < m[f"l1_{reading}"] for r in printed)
        mse = sum(r["report_mse"] < m[f"mse_{reading}"] for r in printed)
        lines.append(
            f"{label}: {l1} of {len(printed)} printed L1 and {mse} of {len(printed)} printed MSE values are below "
            f"the mean-map baseline (L1 {m[f'l1_{reading}']:.4f}, MSE {m[f'mse_{reading}']:.4f})"
        )
    return lines


def write_report_tables(rows: list[dict], path: str | Path, figures: dict[str, str | Path]) -> Path:
    """The generated part of the report: provenance, Figure 2 rebuilt, the standard table, figure links.
    ``rows`` are the model rows followed by the baseline rows."""
    from ._io import write_text_atomic

    path = Path(path)
    prov = provenance(rows)
    enc = prov.get("encoders", [])
    scratch = "trained from scratch (no ImageNet weights were loaded)"
    gt = prov.get("gt_resolution_hw") or ["?", "?"]
    lines = [
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
    by_run = {r["run"]: r for r in rows if r["kind"] == "model" and r["results"]}
    for a, b, what in CONTRASTS:
        if a in by_run and b in by_run:
            ra, rb = by_run[a], by_run[b]
            paired = _test_images(ra) == _test_images(rb)
            lines += [
                f"## {ra['row']} against {rb['row']}: {what}",
                "",
                "Paired: the same test images."
                if paired
                else "Unpaired: different test images, each run's resampled independently.",
                "",
                difference_table(ra["results"], rb["results"], (ra["row"], rb["row"]), paired=paired),
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
    return f"{d:+.{nd}f} [{lo:+.{nd}f}, {hi:+.{nd}f}]", bool(lo > 0 or hi < 0)


def question_table(rows: list[dict], questions: list[tuple[str, str, str]] = QUESTIONS) -> tuple[list, list]:
    """The report's design questions (:data:`QUESTIONS`): for each pair of trained rows scored on the same test
    images, the paired difference b − a of δ1, AbsRel and RMSE with its 95% interval, ✓ where the interval
    excludes zero. Questions whose rows are missing, or on different test images, are left out."""
    by_run = {r["run"]: r for r in rows if r["kind"] == "model" and r["results"]}
    keys = PAIRED_KEYS[:3]
    head = ["question (a → b)", *(f"{label} b − a [95% CI]" for _, label, _ in keys)]
    body = []
    for question, a, b in questions:
        if a not in by_run or b not in by_run or _test_images(by_run[a]) != _test_images(by_run[b]):
            continue
        cells = []
        for key, _, nd in keys:
            cell, resolved = _difference(by_run[a]["results"], by_run[b]["results"], key, nd, paired=True)
            cells.append(cell + (" ✓" if resolved else ""))
        body.append([question, *cells])
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
