"""depthutils.distill and the engine's distillation and CutDepth: the teacher's depth follows the augmentation,
adds its loss, and a teacher trained on a held-out image is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthutils.config import TrainConfig
from depthutils.data import cut_depth, load_data
from depthutils.distill import teacher_depth, teacher_paths
from depthutils.engine import DeviceData, train_step
from depthutils.losses import get_loss
from depthutils.models import build_model
from depthutils.train import fit


def test_teacher_paths_split_on_commas():
    assert teacher_paths(None) == [] and teacher_paths(" a.pt, b.pt ,") == ["a.pt", "b.pt"]


def test_cut_depth_replaces_a_rectangle_with_the_depth():
    g = torch.Generator().manual_seed(0)
    rgb = torch.full((64, 3, 16, 16), 0.25)
    depth = torch.full((64, 1, 16, 16), 0.75)
    out = cut_depth(rgb, depth, 0.5, generator=g)
    cut = (out == 0.75).all(1)  # N×h×w: pixels that show the depth in all three channels
    shown = cut.flatten(1).any(1)
    assert 10 < int(shown.sum()) < 54  # about half of the images, p = 0.5
    for m in cut[shown]:  # each a rectangle: its rows and columns span a full block
        rows, cols = m.any(1).nonzero()[:, 0], m.any(0).nonzero()[:, 0]
        assert int(m.sum()) == len(rows) * len(cols) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert torch.equal(cut_depth(rgb, depth, 0.0, generator=g), rgb)


def _step(depth: torch.Tensor, distill_weight: float) -> float:
    torch.manual_seed(0)
    model = build_model("regnet_unet")
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    rgb = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    kw = dict(image_size=(64, 64), max_depth=10.0, precision="fp32", augment="none")
    return float(train_step(model, opt, get_loss("l1"), rgb, depth, distill_weight=distill_weight, **kw))


@pytest.mark.slow
def test_train_step_adds_the_teacher_loss():
    depth = torch.full((4, 1, 64, 64), 3.0)
    plain = _step(depth, 1.0)
    same = _step(torch.cat([depth, depth], 1), 1.0)  # a teacher that agrees with the depth doubles the L1
    far = torch.cat([depth, torch.full_like(depth, 9.0)], 1)
    assert same == pytest.approx(2 * plain, rel=1e-5)
    assert _step(far, 0.0) == pytest.approx(plain, rel=1e-5)
    assert _step(far, 0.5) > plain


TINY = dict(
    data="synthetic",
    synth_count=24,
    synth_size=(64, 96),
    image_size=(64, 64),
    batch_size=4,
    limit=8,
    epochs=1,
    pretrained=False,
)


@pytest.mark.slow
def test_teacher_trained_on_held_out_images_is_refused(tmp_path):
    fit(TrainConfig(model="resnete_decoder_v3", seed=1, **TINY), tmp_path / "t", progress=False)  # another split
    student = load_data(TrainConfig(model="regnet_unet", seed=0, **TINY))
    d = DeviceData(student, student.train, torch.device("cpu"))
    held = student.identity["val_indices"] + student.identity["test_indices"]
    with pytest.raises(ValueError, match="trained on .* of the student's validation or test images"):
        teacher_depth([str(tmp_path / "t" / "last.pt")], d, held_out=held)
    depth = teacher_depth([str(tmp_path / "t" / "last.pt")] * 2, d)  # no held-out images given: predicts
    assert depth.shape == d.depth.shape and bool(torch.isfinite(depth).all()) and float(depth.min()) >= 0
    assert np.allclose(depth.numpy(), teacher_depth([str(tmp_path / "t" / "last.pt")], d).numpy())
