from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from depthutils.cli import main
from conftest import TINY



@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("pred_run")
    assert main(["train", "--model", "resnete_decoder_v2", "--out", str(out / "r"), "--epochs", "1", *TINY]) == 0
    return out / "r" / "last.pt"


def test_predict_odd_inputs(ckpt, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (50, 70), dtype=np.uint8), "L").save(src / "gray.png")
    Image.fromarray(rng.integers(0, 255, (45, 61, 4), dtype=np.uint8), "RGBA").save(src / "rgba.png")
    Image.fromarray(rng.integers(0, 65535, (40, 52), dtype=np.uint16)).save(src / "sixteen.png")
    Image.fromarray(rng.integers(0, 255, (33, 100, 3), dtype=np.uint8)).save(src / "odd.jpg")
    (src / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    # an EXIF-rotated photo: stored 30 wide × 20 high, orientation 6 (rotate 90° CW) → displayed 20 × 30
    im = Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(src / "exif.jpg", exif=exif)
    out = tmp_path / "out"
    rc = main(["predict", "--checkpoint", str(ckpt), str(src), "--out", str(out), "--ply"])
    assert rc == 1  # the corrupt file makes the exit status nonzero …
    sizes = {"gray": (50, 70), "rgba": (45, 61), "sixteen": (40, 52), "odd": (33, 100), "exif": (30, 20)}
    for stem, hw in sizes.items():  # … but every other file was processed, at its own size
        d16 = np.asarray(Image.open(out / f"{stem}_depth.png"))
        assert d16.dtype == np.uint16 and d16.shape == hw
        arr = np.load(out / f"{stem}_depth.npy")
        assert arr.shape == hw and arr.dtype == np.float32 and (arr >= 0).all() and arr.max() <= 10
        assert np.abs(d16 / 1000.0 - arr).max() < 1e-3 + 1e-6
        assert Image.open(out / f"{stem}_color.png").size[0] > 50
        assert (out / f"{stem}.ply").read_text().startswith("ply\n")
    assert not list(out.glob("corrupt*")) and not list(out.glob("*.tmp"))


def test_predict_real_samples(ckpt, tmp_path):
    from conftest import shared_or_skip

    root = shared_or_skip("rgbd_samples")
    inputs = [str(root / d / "rgb.png") for d in ("kinect2_esanet_0", "nyu_test_224_0")]
    assert main(["predict", "--checkpoint", str(ckpt), *inputs, "--out", str(tmp_path / "o")]) == 0
    # both inputs are called rgb.png: the second gets its folder's name instead of overwriting the first
    assert np.load(tmp_path / "o" / "rgb_depth.npy").shape == (424, 512)
    assert np.load(tmp_path / "o" / "nyu_test_224_0_rgb_depth.npy").shape == (224, 224)
