"""The shared figures: what each one draws."""

from __future__ import annotations

import pytest

from depthutils import plots


def _history(epochs: int, start: float) -> list[dict]:
    rows = [{"epoch": e, "train_loss": 0.1} for e in range(1, epochs + 1)]
    for r in rows[4::5]:  # evaluated every fifth epoch, as in training
        r.update(val_l1=start - 0.001 * r["epoch"], test_delta1=0.4 + 0.002 * r["epoch"])
    return rows


def test_curves_overview_draws_one_line_per_row_and_the_baseline():
    hist = {"v1": _history(50, 0.1), "DenseNet UNet": _history(100, 0.09)}
    fig = plots.curves_overview(hist, {"l1_global": 0.0892, "delta1": 0.428}, title="t")
    try:
        for ax, key in zip(fig.axes, ("val_l1", "test_delta1")):
            lines = {line.get_label(): line for line in ax.get_lines()}
            assert set(lines) == {"v1", "DenseNet UNet", *(k for k in lines if k.startswith("mean depth map"))}
            assert len(lines) == 3
            x, y = lines["DenseNet UNet"].get_data()
            assert list(x) == list(range(5, 101, 5))  # only the evaluated epochs
            assert y[-1] == pytest.approx([r[key] for r in hist["DenseNet UNet"] if key in r][-1])
        base = [line for line in fig.axes[1].get_lines() if line.get_label().startswith("mean depth map")][0]
        assert base.get_ydata()[0] == pytest.approx(0.428)
        lo, hi = fig.axes[0].get_ylim()
        assert lo < 0.0892 < hi  # the baseline is always in range
    finally:
        plots.close(fig)


def test_curves_overview_range_leaves_out_an_untrained_first_epoch():
    hist = {f"r{i}": _history(50, 0.1) for i in range(3)}
    hist["r0"][4]["val_l1"] = 0.5  # one wild early point among 30
    fig = plots.curves_overview(hist)
    try:
        assert fig.axes[0].get_ylim()[1] < 0.2
    finally:
        plots.close(fig)


def test_curves_overview_without_a_baseline_draws_the_rows_only():
    fig = plots.curves_overview({"a": _history(10, 0.1)})
    try:
        assert [line.get_label() for line in fig.axes[0].get_lines()] == ["a"]
    finally:
        plots.close(fig)
