from __future__ import annotations

import math

import pytest
import torch

from depthutils.losses import LOSSES, berhu_loss, get_loss, gradient_loss, l1_loss, silog_loss, ssim_l1_loss

P = torch.tensor([[[[0.5, 0.2], [0.9, 0.4]]]])
T = torch.tensor([[[[0.4, 0.2], [0.5, 0.9]]]])
M = torch.tensor([[[[True, True], [True, False]]]])


def test_l1_hand_values():
    assert l1_loss(P, T).item() == pytest.approx((0.1 + 0 + 0.4 + 0.5) / 4)
    assert l1_loss(P, T, M).item() == pytest.approx((0.1 + 0 + 0.4) / 3)


def test_berhu_hand_values():
    # valid residuals 0.1, 0, 0.4 → c = 0.08; 0.1 → (0.01 + 0.0064)/0.16, 0 → 0, 0.4 → (0.16 + 0.0064)/0.16
    c = 0.08
    expect = ((0.01 + c * c) / (2 * c) + 0 + (0.16 + c * c) / (2 * c)) / 3
    assert berhu_loss(P, T, M).item() == pytest.approx(expect, rel=1e-5)
    # the masked-out residual (0.5) must not set c
    assert berhu_loss(P, T, M).item() != pytest.approx(berhu_loss(P, T).item())


def test_gradient_hand_values():
    # diff = p - t = [[0.1, 0], [0.4, -0.5]]
    # x-diffs: row0 |0-0.1| = 0.1, row1 |-0.5-0.4| = 0.9 → mean 0.5 ; y-diffs: col0 0.3, col1 0.5 → mean 0.4
    assert gradient_loss(P, T).item() == pytest.approx(0.9)
    # with the mask, only row0 x-pair and col0 y-pair survive: 0.1 + 0.3
    assert gradient_loss(P, T, M).item() == pytest.approx(0.4)


def test_silog_hand_values():
    d = torch.log(P) - torch.log(T)
    dv = d[M]
    expect = math.sqrt((dv**2).mean().item() - 0.85 * dv.mean().item() ** 2)
    assert silog_loss(P, T, M).item() == pytest.approx(expect, rel=1e-5)
    assert silog_loss(T * 2, T).item() == pytest.approx(math.sqrt(0.15) * math.log(2), rel=1e-4)


def test_ssim_l1_identical_is_zero_and_matches_kornia():
    from kornia.losses import ssim_loss

    t = torch.rand(2, 1, 32, 32)
    assert ssim_l1_loss(t, t).item() == pytest.approx(0.0, abs=1e-5)
    p = (t + 0.1 * torch.randn_like(t)).clamp(0, 1)
    # without a mask our SSIM term equals kornia's ssim_loss ((1 − SSIM)/2, mean reduction)
    expect = ssim_loss(p, t, window_size=11, max_val=1.0).item() + (p - t).abs().mean().item()
    assert ssim_l1_loss(p, t).item() == pytest.approx(expect, rel=1e-4)


def test_ssim_l1_ignores_invalid_values():
    t = torch.rand(1, 1, 32, 32)
    p = t.clone()
    m = torch.ones_like(t, dtype=torch.bool)
    m[..., :8, :] = False
    p2 = p.clone()
    p2[..., :8, :] = 5.0  # garbage where the target is invalid
    assert ssim_l1_loss(p2, t, m).item() == pytest.approx(ssim_l1_loss(p, t, m).item(), abs=1e-6)


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_honours_mask_and_has_grad(name):
    fn = LOSSES[name]
    t = torch.rand(2, 1, 16, 16) + 0.1
    p = (t + 0.05 * torch.randn_like(t)).clamp_min(0.01).requires_grad_()
    m = torch.rand_like(t) > 0.3
    base = fn(p, t, m)
    base.backward()
    assert torch.isfinite(base) and p.grad.abs().sum() > 0
    assert (p.grad[~m] == 0).all()  # no gradient ever reaches an invalid pixel
    p2 = p.detach().clone()
    p2[~m] = 7.0  # garbage where the target is invalid changes nothing
    assert fn(p2, t, m).item() == pytest.approx(base.item(), rel=1e-5)


def test_get_loss_combination():
    f = get_loss("silog+0.5*gradient")
    assert f(P, T, M).item() == pytest.approx(silog_loss(P, T, M).item() + 0.5 * gradient_loss(P, T, M).item())
    with pytest.raises(ValueError, match="unknown loss 'ssim'"):
        get_loss("ssim")


def test_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        l1_loss(P, T[..., :1])
