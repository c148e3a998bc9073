"""The engine's evaluation protocols, flip TTA, the learning-rate schedule and the image-blind baselines, on
fixtures with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from depthutils.baselines import ImageBlindModel, baseline_models, evaluate_baselines
from depthutils.data import DepthData
from depthutils.engine import DeviceData, evaluate, lr_at, predict_batch
from depthutils.metrics import depth_metrics


class _Ramp(nn.Module):
    """Predicts a left-to-right ramp 0.1 … 0.9 (normalised) at whatever size it is given: x-dependent, so a
    mirror, a wrong upsampling or a wrong crop changes the scores."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[-1]
        ramp = torch.linspace(0.1, 0.9, w, device=x.device)
        return ramp.expand(x.shape[0], 1, x.shape[-2], w).clone()


def _data(n: int = 2, h: int = 48, w: int = 64, gt_hw: tuple[int, int] | None = None) -> tuple[DepthData, np.ndarray]:
    rgb = np.random.default_rng(0).integers(0, 255, (n, h, w, 3), dtype=np.uint8)
    depth = np.full((n, h, w), 3.0, np.float32)
    gt = None
    if gt_hw:
        gh, gw = gt_hw
        gt = np.tile(np.linspace(1.0, 9.0, gw, dtype=np.float32), (n, gh, 1))
    return DepthData(rgb, depth, np.arange(0), np.arange(n), {}, test_gt=gt), gt


def test_standard_protocol_upsamples_to_the_full_resolution_gt_and_crops():
    data, gt = _data(gt_hw=(480, 640))
    dd = DeviceData(data, data.test, torch.device("cpu"), gt=data.test_gt)
    out = evaluate(_Ramp(), dd, image_size=(32, 32), protocol="standard", flip_tta=False)
    assert out["protocol"]["gt_resolution_hw"] == [480, 640] and out["protocol"]["eigen_crop"]
    # independent calculation: the 32-wide ramp upsampled bilinearly to 640, × 10 m, on the Eigen crop
    up = (
        torch.nn.functional.interpolate(
            _Ramp()(torch.zeros(1, 3, 32, 32)), size=(480, 640), mode="bilinear", align_corners=False
        )
        * 10
    )
    ref = depth_metrics(up[0, 0], torch.from_numpy(gt[0]), eigen_crop=True)
    assert out["abs_rel"] == pytest.approx(ref["abs_rel"], rel=1e-5)
    assert out["delta1"] == pytest.approx(ref["delta1"], rel=1e-5)
    uncropped = depth_metrics(up[0, 0], torch.from_numpy(gt[0]))
    assert abs(uncropped["abs_rel"] - ref["abs_rel"]) > 1e-3  # the crop matters for this ramp


def test_report_protocol_scores_at_the_model_resolution():
    data, _ = _data()
    dd = DeviceData(data, data.test, torch.device("cpu"))
    out = evaluate(_Ramp(), dd, image_size=(32, 32), protocol="report")
    pred = _Ramp()(torch.zeros(1, 3, 32, 32))[0, 0] * 10
    assert out["abs_rel"] == pytest.approx(depth_metrics(pred, torch.full((32, 32), 3.0))["abs_rel"], rel=1e-5)
    assert out["protocol"]["gt_resolution_hw"] == [32, 32] and not out["protocol"]["flip_tta"]


def test_flip_tta_averages_with_the_mirrored_prediction():
    x = torch.rand(2, 3, 32, 32)
    plain = predict_batch(_Ramp(), x)
    tta = predict_batch(_Ramp(), x, flip_tta=True)
    assert torch.allclose(tta, 0.5 * (plain + plain.flip(-1)))
    assert torch.allclose(tta, torch.full_like(tta, 0.5), atol=1e-6)  # the ramp and its mirror average to 0.5


def test_flip_tta_pairs_each_image_with_its_own_mirror():
    """The images and their mirrors run as one batch: each image's prediction meets its own mirror's."""

    class RampTimesImage(_Ramp):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) * x[:, :1]

    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tta = predict_batch(RampTimesImage(), x, flip_tta=True)
    # ramp + mirrored ramp = 1.0 everywhere, so the average is half of each image's own first channel
    assert torch.allclose(tta, 0.5 * x[:, :1], atol=1e-6)


def test_intervals_and_per_image_values():
    data, _ = _data(n=6, gt_hw=(96, 128))
    dd = DeviceData(data, data.test, torch.device("cpu"), gt=data.test_gt)
    out = evaluate(_Ramp(), dd, image_size=(32, 32), protocol="standard", intervals=True, per_image=("abs_rel",))
    assert len(out["per_image"]["abs_rel"]) == 6
    lo, hi = out["ci"]["abs_rel"]
    assert lo <= out["abs_rel"] <= hi


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_lr_schedule(schedule):
    lrs = [lr_at(e, lr=1.0, epochs=10, schedule=schedule, warmup_epochs=2) for e in range(10)]
    assert lrs[0] == pytest.approx(1 / 3) and lrs[1] == pytest.approx(2 / 3)  # linear warm-up
    assert lrs[2] == pytest.approx(1.0)
    if schedule == "cosine":
        assert all(a > b for a, b in zip(lrs[2:], lrs[3:])) and lrs[-1] == pytest.approx(
            0.5 * (1 + math.cos(math.pi * 7 / 8))
        )
    else:
        assert lrs[2:] == [1.0] * 8


def test_baselines_against_an_independent_calculation():
    rng = np.random.default_rng(1)
    train_depth = rng.uniform(1, 5, (5, 6, 8)).astype(np.float32)
    train_depth[0, 0, 0] = 0.0  # an invalid pixel is left out of that pixel's mean
    test_depth = rng.uniform(1, 5, (3, 6, 8)).astype(np.float32)
    rgb = np.zeros((8, 6, 8, 3), np.uint8)
    data = DepthData(
        rgb,
        np.concatenate([train_depth, test_depth]),
        np.arange(4),
        np.arange(5, 8),
        {"kind": "synthetic", "name": "fixture", "test_indices": [5, 6, 7]},
        val=np.arange(4, 5),
    )
    res = evaluate_baselines(data, image_size=(6, 8))  # the stored size: no resampling
    mean_map = train_depth.mean(0)
    mean_map[0, 0] = train_depth[1:, 0, 0].mean()
    med = np.median(train_depth[train_depth > 0])
    for name, pred in (("mean_map", mean_map), ("median", np.full((6, 8), med))):
        m = res["rows"][name]["protocols"]["report"]
        per = [depth_metrics(torch.from_numpy(pred), torch.from_numpy(t)) for t in test_depth]
        assert m["abs_rel"] == pytest.approx(np.mean([p["abs_rel"] for p in per]), rel=1e-5)
        assert m["rmse"] == pytest.approx(np.mean([p["rmse"] for p in per]), rel=1e-5)
        assert m["l1_global"] == pytest.approx(np.mean([np.abs(pred - t).mean() / 10 for t in test_depth]), rel=1e-5)
    assert res["rows"]["median"]["median_m"] == pytest.approx(med)


def test_image_blind_model_is_image_blind():
    m = ImageBlindModel(np.arange(12, dtype=np.float32).reshape(3, 4), max_depth=10.0)
    a, b = m(torch.zeros(2, 3, 3, 4)), m(torch.rand(2, 3, 3, 4))
    assert torch.equal(a, b) and a.shape == (2, 1, 3, 4) and a[0, 0, 2, 3] == pytest.approx(1.1)
    with pytest.raises(ValueError, match="no valid depth"):
        baseline_models(np.zeros((2, 3, 4), np.float32))


def test_encoder_lr_scale_gives_the_encoder_its_own_group():
    from depthutils.config import TrainConfig
    from depthutils.engine import param_groups
    from depthutils.models import build_model

    m = build_model("regnet_unet")
    assert len(list(param_groups(m, 1.0))) == len(list(m.parameters()))  # one group: every run before the setting
    enc, rest = param_groups(m, 0.1)
    assert enc["lr_scale"] == 0.1 and rest["lr_scale"] == 1.0
    assert {id(p) for p in enc["params"]} == {id(p) for p in m.encoder.parameters()}
    everything = [id(p) for g in (enc, rest) for p in g["params"]]
    assert sorted(everything) == sorted(id(p) for p in m.parameters())  # each parameter once
    with pytest.raises(ValueError, match="encoder_lr_scale > 0"):
        TrainConfig(model="regnet_unet", encoder_lr_scale=0.0)
