from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from depthutils.metrics import (
    EIGEN_CROP,
    MetricAccumulator,
    bootstrap_ci,
    bootstrap_diff_ci,
    depth_metrics,
    edge_metrics,
    report_metrics,
)


def test_standard_metrics_hand_values():
    gt = torch.tensor([[1.0, 2.0], [4.0, 8.0]])
    pred = torch.tensor([[1.0, 2.4], [3.0, 8.0]])
    m = depth_metrics(pred, gt)
    assert m["abs_rel"] == pytest.approx((0 + 0.2 + 0.25 + 0) / 4)
    assert m["sq_rel"] == pytest.approx((0 + 0.08 + 0.25 + 0) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((0.16 + 1) / 4))
    assert m["delta1"] == pytest.approx(0.75)  # 4/3 > 1.25; δ uses a strict <
    assert m["delta2"] == pytest.approx(1.0)
    d = np.log([1, 1.2, 0.75, 1])
    assert m["silog"] == pytest.approx(math.sqrt((d**2).mean() - d.mean() ** 2) * 100, rel=1e-5)
    assert m["log10"] == pytest.approx(np.abs(np.log10([1, 1.2, 0.75, 1])).mean(), rel=1e-5)


def test_mask_and_invalid_gt_excluded():
    gt = torch.tensor([[1.0, 2.0], [float("nan"), 0.0]])
    pred = torch.tensor([[1.0, 3.0], [9.0, 9.0]])
    m = depth_metrics(pred, gt)
    assert m["abs_rel"] == pytest.approx(0.25)
    mask = torch.tensor([[True, False], [True, True]])
    assert depth_metrics(pred, gt, mask)["abs_rel"] == pytest.approx(0.0)


def test_per_image_average():
    gt = torch.ones(2, 1, 2, 2)
    pred = torch.ones(2, 1, 2, 2)
    pred[0] = 2.0
    mask = torch.ones_like(gt, dtype=torch.bool)
    mask[0, 0, 0, 1:] = False
    mask[0, 0, 1] = False  # image 0 has 1 valid pixel, image 1 has 4
    assert depth_metrics(pred, gt, mask)["abs_rel"] == pytest.approx(0.5)  # (1 + 0)/2, not 1/5


def test_prediction_clipped():
    gt = torch.full((4, 4), 5.0)
    assert depth_metrics(torch.full((4, 4), 50.0), gt)["abs_rel"] == pytest.approx(1.0)  # clipped to 10
    assert depth_metrics(torch.full((4, 4), -1.0), gt)["delta3"] == 0.0


def test_report_metrics_both_normalisations():
    gt = torch.tensor([[2.0, 4.0], [6.0, 8.0]])
    pred = gt + 1.0
    r = report_metrics(pred, gt)
    assert r["l1_global"] == pytest.approx(0.1)
    assert r["mse_global"] == pytest.approx(0.01)
    assert r["l1_per_image"] == pytest.approx(1 / 6)  # range 6 m
    assert r["mse_per_image"] == pytest.approx(1 / 36)


def test_eigen_crop():
    gt = torch.full((480, 640), 2.0)
    pred = gt.clone()
    pred[:40] = 4.0  # outside the crop (rows < 45)
    assert depth_metrics(pred, gt, eigen_crop=True)["abs_rel"] == pytest.approx(0.0)
    assert depth_metrics(pred, gt)["abs_rel"] > 0
    assert EIGEN_CROP[0] == pytest.approx(45 / 480)


def test_empty_mask_is_nan_with_warning():
    gt = torch.zeros(1, 1, 4, 4)
    with pytest.warns(RuntimeWarning, match="no valid ground-truth"):
        m = depth_metrics(torch.ones(1, 1, 4, 4), gt)
    assert all(math.isnan(v) for v in m.values())


def test_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        depth_metrics(torch.ones(4, 4), torch.ones(4, 5))


def test_accumulator_matches_single_batch():
    torch.manual_seed(0)
    gt = torch.rand(6, 1, 8, 8) * 5 + 0.5
    pred = gt * (1 + 0.2 * torch.randn_like(gt)).abs()
    acc = MetricAccumulator()
    acc.update(pred[:4], gt[:4])
    acc.update(pred[4:], gt[4:])
    whole = depth_metrics(pred, gt)
    split = acc.compute()
    for k, v in whole.items():
        assert split[k] == pytest.approx(v, rel=1e-5)


def test_edge_metrics_blur_is_worse():
    """A sharp step predicted sharply scores better than the same step blurred."""
    gt = torch.full((1, 1, 64, 64), 2.0)
    gt[..., :, 32:] = 6.0
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(gt, (7, 7, 7, 7), mode="replicate"), 15, 1)
    sharp = edge_metrics(gt, gt)
    blur = edge_metrics(blurred, gt)
    assert sharp["dbe_comp"][0] == pytest.approx(0.0) and sharp["dbe_acc"][0] == pytest.approx(0.0)
    assert sharp["depth_ssim"][0] == pytest.approx(1.0, abs=1e-4)
    assert blur["depth_ssim"][0] < sharp["depth_ssim"][0]
    shifted = torch.full_like(gt, 2.0)
    shifted[..., :, 37:] = 6.0  # the same step, 5 px to the right
    assert edge_metrics(shifted, gt)["dbe_acc"][0] == pytest.approx(5.0, abs=1.0)


def test_nan_prediction_gives_nan_not_zero():
    gt = torch.full((2, 1, 4, 4), 2.0)
    pred = gt.clone()
    pred[1, 0, 0, 0] = float("nan")
    acc = MetricAccumulator()
    acc.update(pred, gt)
    per = acc.per_image()
    assert per["delta1"][0] == 1.0 and math.isnan(per["delta1"][1]) and math.isnan(per["abs_rel"][1])
    m = acc.compute()
    assert math.isnan(m["delta1"]) and math.isnan(m["l1_global"])  # never a silent δ1 of 0.5
    assert all(math.isnan(v) for v in acc.intervals()["delta1"])


def test_only_some_images_skipped():
    gt = torch.full((3, 1, 4, 4), 2.0)
    gt[1] = 0.0  # no valid pixel: left out, counted, warned
    pred = torch.full_like(gt, 2.5)
    pred[2] = 2.0
    acc = MetricAccumulator()
    acc.update(pred, gt)
    with pytest.warns(RuntimeWarning, match="1 of 3 images"):
        m = acc.compute()
    assert m["n_images"] == 2 and m["n_skipped"] == 1
    assert m["abs_rel"] == pytest.approx((0.25 + 0.0) / 2)
    assert math.isnan(acc.per_image()["abs_rel"][1])


def test_bootstrap_interval_contains_the_mean_and_narrows():
    rng = np.random.default_rng(0)
    small = rng.normal(0.5, 0.1, 50)
    large = rng.normal(0.5, 0.1, 2000)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 3  # ~sqrt(40) narrower
    assert (hi_s - lo_s) == pytest.approx(2 * 1.96 * small.std() / math.sqrt(50), rel=0.25)
    assert bootstrap_ci(small) == bootstrap_ci(small)  # seeded


def test_edge_metrics_blur_is_less_complete():
    """The blurred step's edge is found less sharply: its completeness is no better than the sharp one's."""
    gt = torch.full((1, 1, 64, 64), 2.0)
    gt[..., :, 32:] = 6.0
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(gt, (7, 7, 7, 7), mode="replicate"), 15, 1)
    noisy = blurred + 0.3 * torch.sin(torch.arange(64.0) / 2)[None, None, :, None]  # ripples across rows
    assert edge_metrics(noisy, gt)["dbe_acc"][0] > edge_metrics(gt, gt)["dbe_acc"][0]


def test_paired_difference_interval_is_narrower_than_unpaired_and_needs_the_same_images():
    rng = np.random.default_rng(0)
    difficulty = rng.normal(0.5, 0.2, 300)  # shared by both "models": cancels only when paired
    a, b = difficulty, difficulty + 0.02 + rng.normal(0, 0.01, 300)
    d, lo, hi = bootstrap_diff_ci(a, b, paired=True)
    du, lou, hiu = bootstrap_diff_ci(a, b, paired=False)
    assert d == pytest.approx(du) and lo < d < hi and 0 < lo  # paired: +0.02 resolved
    assert lou < 0 < hiu  # unpaired: the image difficulty swamps it
    _, lo2, hi2 = bootstrap_diff_ci(a[:100], b, paired=False)  # unpaired takes different test sets
    assert lo2 < hi2
    with pytest.raises(ValueError, match="same test images: 100 against 300"):
        bootstrap_diff_ci(a[:100], b, paired=True)


def test_hysteresis_as_connected_components_equals_kornias_loop():
    """metrics._canny finds Canny's edges with connected components in place of kornia's iterated rounds: the
    same edges, bit for bit, on smooth depth-like maps and on noise (where chains are long and tangled)."""
    from kornia.filters import canny

    from depthutils.data import render_scene
    from depthutils.metrics import _canny

    g = torch.Generator().manual_seed(0)
    rooms = [torch.from_numpy(render_scene(3, i, 96, 72)[1]).float()[None, None] for i in range(3)]
    x = torch.cat([*rooms, torch.rand(2, 1, 72, 96, generator=g)])
    lo, hi = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    xn = (x - lo) / (hi - lo).clamp_min(1e-6)
    reference = canny(xn, low_threshold=0.1, high_threshold=0.2, kernel_size=5, sigma=(1.0, 1.0))[1] > 0
    assert reference.any() and torch.equal(_canny(x), reference)
