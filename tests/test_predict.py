from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import TINY
from depthutils.cli import main


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("pred_run")
    assert main(["train", "--model", "resnete_decoder_v2", "--out", str(out / "r"), "--epochs", "1", *TINY]) == 0
    return out / "r" / "last.pt"


@pytest.mark.slow
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
        assert (out / f"{stem}.ply").read_bytes().startswith(b"ply\nformat binary_little_endian")
    assert not list(out.glob("corrupt*")) and not list(out.glob("*.tmp"))


@pytest.mark.slow
def test_predict_real_samples(ckpt, tmp_path):
    from conftest import shared_or_skip

    root = shared_or_skip("rgbd_samples")
    inputs = [str(root / d / "rgb.png") for d in ("kinect2_esanet_0", "nyu_test_224_0")]
    assert main(["predict", "--checkpoint", str(ckpt), *inputs, "--out", str(tmp_path / "o")]) == 0
    # both inputs are called rgb.png: each gets its folder's name instead of overwriting the other
    assert np.load(tmp_path / "o" / "kinect2_esanet_0_rgb_depth.npy").shape == (424, 512)
    assert np.load(tmp_path / "o" / "nyu_test_224_0_rgb_depth.npy").shape == (224, 224)


@pytest.mark.slow
def test_predict_names_are_unique_and_nothing_is_overwritten(ckpt, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for ext in ("jpg", "jpeg", "png"):
        Image.fromarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(src / f"a.{ext}")
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(ckpt), str(src), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    files = sorted(p.name for p in out.iterdir())
    assert f"wrote {len(files)} files" in said and len(files) == 12  # 3 inputs × (png, npy, colour map, json)
    assert {"a_jpg_depth.png", "a_jpeg_depth.png", "a_png_depth.png"} <= set(files)
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    # the same command again (the README's Quick start, run twice): the outputs are there for the same photos,
    # weights and settings, so they are kept and it succeeds
    assert main(["predict", "--checkpoint", str(ckpt), str(src), "--out", str(out)]) == 0
    again = capsys.readouterr()
    assert "FAILED" not in again.err and again.out.count("already there") == 3 and "kept the outputs of 3" in again.out
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # other settings would change them: refused, once per photo, naming --overwrite; nothing replaced
    assert main(["predict", "--checkpoint", str(ckpt), str(src), "--out", str(out), "--no-flip-tta"]) == 1
    err = capsys.readouterr().err
    assert "--overwrite" in err and err.count("a.jpg") == 1  # each failure is printed once
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before  # refused: nothing replaced
    assert main(["predict", "--checkpoint", str(ckpt), str(src), "--out", str(out), "--overwrite"]) == 0


def test_point_cloud_intrinsics_from_exif_or_nyu(tmp_path):
    from depthutils.predict import back_project, camera_intrinsics

    p = tmp_path / "exif.jpg"
    im = Image.fromarray(np.zeros((300, 400, 3), np.uint8))
    exif = im.getexif()
    exif.get_ifd(0x8769)[41989] = 27  # FocalLengthIn35mmFilm: 27 mm
    im.save(p, exif=exif)
    (fx, fy, cx, cy), source = camera_intrinsics(400, 300, p)
    assert source == "exif" and fx == pytest.approx(27 * 400 / 36) and cx == pytest.approx(199.5)
    (fx, _, cx, _), source = camera_intrinsics(640, 480)
    assert source == "nyu" and fx == pytest.approx(518.8579) and cx == pytest.approx(325.5824)
    # another aspect (Kinect v2, 512×424): one scale for both focal lengths, so the cloud keeps its aspect
    (fx, fy, cx, cy), _ = camera_intrinsics(512, 424)
    assert fx / fy == pytest.approx(518.8579 / 519.4696) and fx == pytest.approx(518.8579 * 0.8)
    assert cx == pytest.approx(255.5 + (325.5824 - 319.5) * 0.8) and cy == pytest.approx(
        211.5 + (253.7362 - 239.5) * 0.8
    )
    pts = back_project(np.full((3, 4), 2.0), (2.0, 2.0, 1.5, 1.0))
    assert pts[1, 3].tolist() == pytest.approx([1.5, 0.0, 2.0])  # (u − cx)·z / fx


def test_valid_depth_is_never_written_as_invalid_and_colour_limits_are_robust():
    from depthutils.plots import robust_limits
    from depthutils.predict import depth_png_mm

    mm = depth_png_mm(np.array([[0.0004, 0.0, 2.0, 70.0, np.nan]], np.float32))
    assert mm.tolist() == [[1, 0, 2000, 65535, 0]]  # 0.4 mm is valid depth: 1 mm, not 0 (= invalid)
    depth = np.full((100, 100), 2.0, np.float32)
    depth[:50] = 3.0
    depth[0, 0] = 80.0  # one outlier does not stretch the colour bar
    lo, hi = robust_limits(depth)
    assert lo == pytest.approx(2.0) and hi == pytest.approx(3.0)


@pytest.mark.slow
def test_outputs_say_which_model_made_them_and_synthetic_models_are_labelled(ckpt, tmp_path, capsys):
    src = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(src)
    assert main(["predict", "--checkpoint", str(ckpt), str(src), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "synthetic rooms" in err and "NOT meant for real photos" in err
    import json

    record = json.loads((tmp_path / "o" / "p_depth.json").read_text())
    assert record["source_checkpoint"] == str(ckpt) and record["source_data_kind"] == "synthetic"
    assert record["flip_tta"] is True  # on by default, as in notebook 09 and the standard protocol
    assert json.loads(Image.open(tmp_path / "o" / "p_depth.png").text["depthutils"])["model"] == record["model"]


@pytest.mark.slow
def test_predictors_run_folded_and_predict_what_the_model_does(ckpt):
    """load_predictor folds the BatchNorms into their convolutions (models/inference.py), for a checkpoint and
    for the shipped weights; the depth is the unfolded model's to 1e-4 of its range."""
    import torch

    from depthutils.predict import load_predictor, predict_image
    from depthutils.run_folder import load_checkpoint, model_from_checkpoint

    def n_bn(m):
        return sum(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())

    p = load_predictor(ckpt)
    ref = model_from_checkpoint(load_checkpoint(ckpt))
    assert n_bn(p.model) < n_bn(ref) and not p.model.training
    rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    kw = dict(image_size=p.image_size, max_depth=p.max_depth, flip_tta=True)
    folded, plain = predict_image(p.model, rgb, **kw), predict_image(ref, rgb, **kw)
    assert np.abs(folded - plain).max() <= 1e-4 * plain.max()
    assert n_bn(load_predictor().model) == 0  # the shipped RegNet UNet: every BatchNorm follows a convolution


def test_predict_refuses_what_it_cannot_use_once_and_clearly(ckpt, tmp_path, capsys):
    """A folder with no photo, an empty file, a symbolic-link loop: named, with what to do; no empty --out made."""
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("no photos here")
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(ckpt), str(empty_dir), "--out", str(out)]) == 2
    assert f"no photos in {empty_dir}" in capsys.readouterr().err and not out.exists()
    (tmp_path / "empty.jpg").write_bytes(b"")
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    assert main(["predict", "--checkpoint", str(ckpt), str(tmp_path / "empty.jpg"), str(loop), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "empty file (0 bytes)" in err and "points back at itself" in err and not out.exists()


def test_predict_into_its_own_input_folder_skips_its_outputs(ckpt, tmp_path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(src / "room.jpg")
    for _ in range(2):  # the second run must not take room_depth.png or room_color.png for photos
        assert main(["predict", "--checkpoint", str(ckpt), str(src), "--out", str(src)]) == 0
    assert sorted(p.name for p in src.iterdir()) == [
        "room.jpg",
        "room_color.png",
        "room_depth.json",
        "room_depth.npy",
        "room_depth.png",
    ]
    assert "already there" in capsys.readouterr().out
    # a photo of one's own that is merely named like an output (no _depth.json beside it) is a photo
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(src / "kitchen_color.png")
    assert main(["predict", "--checkpoint", str(ckpt), str(src), "--out", str(tmp_path / "o2")]) == 0
    assert (tmp_path / "o2" / "kitchen_color_depth.png").exists()


def test_predict_image_takes_read_only_arrays_without_a_warning(ckpt):
    import warnings

    from depthutils.predict import load_predictor, predict_image

    p = load_predictor(ckpt)
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_image(p.model, rgb, image_size=p.image_size, max_depth=p.max_depth)
