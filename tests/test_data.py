from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import pattern_depth, pattern_rgb, shared_or_skip, write_folder, write_mat
from depthutils.data import (
    DataError,
    augment_batch,
    download_file,
    load_dataset,
    official_split,
    read_nyu_mat,
    read_rgbd_folder,
    render_scene,
    report_split,
    resize_batch,
    write_synthetic_mat,
)


# --- .mat reader --------------------------------------------------------------------------------------------
def test_read_nyu_mat_orientation(tiny_mat):
    path, rgb, depth = tiny_mat
    r, d = read_nyu_mat(path)
    assert r.dtype == np.uint8 and r.shape == (4, 6, 8, 3)
    assert d.dtype == np.float32 and d.shape == (4, 6, 8)
    np.testing.assert_array_equal(r, rgb)
    np.testing.assert_array_equal(d, depth)


def test_read_nyu_mat_indices_in_order(tiny_mat):
    path, rgb, depth = tiny_mat
    r, d = read_nyu_mat(path, [3, 1])
    np.testing.assert_array_equal(r, rgb[[3, 1]])
    np.testing.assert_array_equal(d, depth[[3, 1]])
    with pytest.raises(IndexError, match="holds 4 pairs"):
        read_nyu_mat(path, [4])


def test_missing_file_names_path_and_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.mat.*download"):
        read_nyu_mat(tmp_path / "nope.mat")


def test_not_hdf5(tmp_path):
    p = tmp_path / "fake.mat"
    p.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match=r"fake\.mat.*not a readable HDF5"):
        read_nyu_mat(p)


def test_truncated_file(tiny_mat, tmp_path):
    path, *_ = tiny_mat
    data = path.read_bytes()
    p = tmp_path / "trunc.mat"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"trunc\.mat"):
        read_nyu_mat(p)


def test_missing_keys_and_wrong_shapes(tmp_path):
    import h5py

    p = tmp_path / "nokeys.mat"
    with h5py.File(p, "w") as f:
        f["images"] = np.zeros((2, 3, 8, 6), np.uint8)
        f["labels"] = np.zeros((2, 8, 6), np.uint16)
    with pytest.raises(DataError, match=r"nokeys\.mat lacks.*depths.*found \['images', 'labels'\]"):
        read_nyu_mat(p)
    p2 = tmp_path / "shapes.mat"
    with h5py.File(p2, "w") as f:
        f["images"] = np.zeros((2, 8, 6, 3), np.uint8)  # channels last: wrong
        f["depths"] = np.zeros((2, 8, 6), np.float32)
    with pytest.raises(DataError, match=r"shapes\.mat: wrong shapes, images \(2, 8, 6, 3\)"):
        read_nyu_mat(p2)


def test_scene_types_from_matlab_cell_array(tmp_path):
    """sceneTypes is a MATLAB cell array: a (1, N) dataset of object references to uint16 character arrays."""
    import h5py

    from depthutils.data import read_nyu_scene_types

    path = write_mat(tmp_path / "s.mat", pattern_rgb(2, 4, 4), pattern_depth(2, 4, 4))
    with h5py.File(path, "a") as f:
        refs = []
        for i, name in enumerate(["kitchen", "living_room"]):
            d = f.create_dataset(f"#refs#/s{i}", data=np.array([[ord(c)] for c in name], np.uint16))
            refs.append(d.ref)
        f.create_dataset("sceneTypes", data=np.array([refs], dtype=h5py.ref_dtype))
    assert read_nyu_scene_types(path) == ["kitchen", "living_room"]
    assert read_nyu_scene_types(write_mat(tmp_path / "n.mat", pattern_rgb(1, 4, 4), pattern_depth(1, 4, 4))) is None


def test_bad_depths_are_invalid(tmp_path):
    rgb, depth = pattern_rgb(1, 4, 5), pattern_depth(1, 4, 5)
    depth[0, 0, :4] = [np.nan, np.inf, 0.0, -1.0]
    _, d = read_nyu_mat(write_mat(tmp_path / "bad.mat", rgb, depth))
    np.testing.assert_array_equal(d[0, 0, :4], 0.0)
    assert np.isfinite(d).all() and (d[0, 1:] > 0).all()


# --- folder reader ------------------------------------------------------------------------------------------
def test_read_rgbd_folder_roundtrip(tmp_path):
    rgb, depth = pattern_rgb(3, 6, 8), pattern_depth(3, 6, 8)
    root = write_folder(tmp_path / "f", rgb, np.round(depth * 1000))
    r, d = read_rgbd_folder(root, [2, 0])
    np.testing.assert_array_equal(r, rgb[[2, 0]])
    np.testing.assert_allclose(d, depth[[2, 0]], atol=1e-3)
    r2, d2 = read_rgbd_folder(root, depth_scale=0.002)
    np.testing.assert_allclose(d2, 2 * np.round(depth * 1000) / 1000, atol=1e-3)


def test_folder_zero_depth_invalid(tmp_path):
    mm = np.full((1, 4, 4), 1500)
    mm[0, 0, 0] = 0
    _, d = read_rgbd_folder(write_folder(tmp_path / "f", pattern_rgb(1, 4, 4), mm))
    assert d[0, 0, 0] == 0 and d[0, 1, 1] == pytest.approx(1.5)


def test_folder_count_mismatch_lists_files(tmp_path):
    root = write_folder(tmp_path / "f", pattern_rgb(3, 4, 4), np.full((3, 4, 4), 1000))
    (root / "depth" / "0002.png").unlink()
    with pytest.raises(DataError, match=r"RGB without depth: \['0002.png'\]"):
        read_rgbd_folder(root)


def test_folder_size_mismatch_lists_files(tmp_path):
    from PIL import Image

    root = write_folder(tmp_path / "f", pattern_rgb(2, 4, 4), np.full((2, 4, 4), 1000))
    Image.fromarray(np.zeros((5, 4), np.uint16)).save(root / "depth" / "0002.png")
    with pytest.raises(DataError, match=r"0002\.png 4x4 vs 0002\.png 4x5"):
        read_rgbd_folder(root)


def test_folder_unreadable_image_named(tmp_path):
    root = write_folder(tmp_path / "f", pattern_rgb(2, 4, 4), np.full((2, 4, 4), 1000))
    (root / "rgb" / "0001.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"cannot read image .*0001\.png"):
        read_rgbd_folder(root)


# --- splits -------------------------------------------------------------------------------------------------
def test_official_split_is_zero_based(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "splits.mat", {"trainNdxs": np.array([[1], [3]]), "testNdxs": np.array([[2], [4]])})
    tr, te = official_split(tmp_path / "splits.mat")
    assert tr.tolist() == [0, 2] and te.tolist() == [1, 3]


def test_report_split_sizes_and_reproducible():
    tr, te = report_split(1449, seed=0)
    assert len(tr) == 1111 and len(te) == 338
    assert not set(tr) & set(te) and len(set(tr) | set(te)) == 1449
    tr2, te2 = report_split(1449, seed=0)
    np.testing.assert_array_equal(te, te2)
    assert not np.array_equal(te, report_split(1449, seed=1)[1])


def test_real_official_split():
    tr, te = official_split(shared_or_skip("nyu_v2_labeled") / "splits.mat")
    assert len(tr) == 795 and len(te) == 654
    assert min(tr.min(), te.min()) == 0 and max(tr.max(), te.max()) == 1448 and not set(tr) & set(te)


# --- real copy ----------------------------------------------------------------------------------------------
def test_real_folder_reads_and_matches_16bit_sample():
    from depthutils.data import read_depth_png

    root = shared_or_skip("nyu_v2_labeled")
    r, d = read_rgbd_folder(root, [0])
    assert r.shape == (1, 480, 640, 3) and d.shape == (1, 480, 640)
    ref = read_depth_png(shared_or_skip("rgbd_samples") / "nyu_labeled_0001_16bit" / "depth.png")
    valid = ref > 0
    assert np.abs(d[0][valid] - ref[valid]).mean() < 0.03  # the 8-bit-coded copy is ~1 cm off on average


def test_real_small_copy_loads_with_split():
    root = shared_or_skip("nyu_v2_labeled_256x192")
    ds = load_dataset(root, split="official", val_fraction=0.0, limit=4, test_limit=3)
    assert ds.rgb.shape == (7, 192, 256, 3) and ds.identity["kind"] == "real"
    assert ds.identity["split"] == "official" and len(ds.identity["test_indices"]) == 3
    assert 0.5 < np.median(ds.depth[ds.depth > 0]) < 10


# --- synthetic ----------------------------------------------------------------------------------------------
def test_synthetic_deterministic_and_plausible():
    r1, d1 = render_scene(3, 5, 64, 48)
    r2, d2 = render_scene(3, 5, 64, 48)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(d1, d2)
    r3, _ = render_scene(4, 5, 64, 48)
    assert not np.array_equal(r1, r3)
    assert d1.min() > 0.1 and d1.max() < 12 and r1.std() > 5


def test_synthetic_depth_learnable_cue():
    """Image brightness and texture must carry depth information: check a simple cue correlates across scenes."""
    # Rows lower in the image see the floor closer (perspective): mean depth must fall from middle to bottom.
    ds = [render_scene(0, i, 64, 48)[1] for i in range(20)]
    mid = np.mean([d[24:30].mean() for d in ds])
    bottom = np.mean([d[42:].mean() for d in ds])
    assert bottom < mid


def test_synthetic_mat_same_reader(tmp_path):
    p = write_synthetic_mat(tmp_path / "s.mat", count=5, seed=7, size=(48, 64), workers=1, progress=False)
    r, d = read_nyu_mat(p, [4])
    r_ref, d_ref = render_scene(7, 4, 64, 48)
    np.testing.assert_array_equal(r[0], r_ref)
    np.testing.assert_array_equal(d[0], d_ref)
    tr, te = official_split(tmp_path / "splits.mat")
    assert len(tr) + len(te) == 5 and not set(tr) & set(te)
    assert not list(tmp_path.glob("*.tmp"))


def test_load_dataset_synthetic_default_identity():
    ds = load_dataset(split="report", val_fraction=0.0, synth_count=12, synth_size=(48, 64))
    assert ds.is_synthetic and ds.identity["name"] == "synthetic rooms"
    assert len(ds.train) + len(ds.test) == 12 and ds.rgb.shape[1:] == (48, 64, 3)


# --- augmentation -------------------------------------------------------------------------------------------
def test_augmentation_same_geometry_for_rgb_and_depth():
    """Encode the pixel position in both RGB and depth; after augmentation they must still agree."""
    n, h, w = 6, 48, 64
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    rgb = np.zeros((n, 3, h, w), np.uint8)
    rgb[:, 0] = xx * 255 // (w - 1)
    rgb[:, 1] = yy * 255 // (h - 1)
    depth = np.broadcast_to((1 + xx / 10.0).astype(np.float32), (n, 1, h, w)).copy()
    g = torch.Generator().manual_seed(0)
    out_rgb, out_d, mask = augment_batch(torch.from_numpy(rgb), torch.from_numpy(depth), (32, 32), generator=g)
    assert out_rgb.shape == (n, 3, 32, 32) and out_d.shape == (n, 1, 32, 32) and mask.dtype == torch.bool
    # x recovered from depth vs from red channel (brightness scales red, so compare via ratio to green-free col)
    x_from_depth = (out_d[:, 0] - 1) * 10
    flips = []
    for i in range(n):
        m = mask[i, 0]
        assert m.float().mean() > 0.7
        xd = x_from_depth[i][m]
        # geometry: the depth-implied x must vary monotonically along the output row in the same direction
        # as the RGB-implied x (same flip), and brightness does not touch depth.
        row = out_d[i, 0, 16]
        rrow = out_rgb[i, 0, 16]
        ok = row > 0
        dx_d = torch.sign(row[ok][-1] - row[ok][0])
        dx_r = torch.sign(rrow[ok][-1] - rrow[ok][0])
        assert dx_d == dx_r
        flips.append(int(dx_d))
        # correlation between red (x) and depth (x) over valid pixels is ~1 despite brightness and rotation
        r = out_rgb[i, 0][m]
        c = torch.corrcoef(torch.stack([r, xd]))[0, 1]
        assert c > 0.97, c
        assert xd.min() >= 0 and xd.max() <= w - 1 + 1e-4  # depth values are exact samples, never blends
        assert torch.allclose(xd, torch.round(xd), atol=1e-4)
    assert set(flips) == {-1, 1}  # both flipped and unflipped samples occur with this seed


def test_augmentation_never_blends_invalid_depth():
    depth = torch.full((4, 1, 40, 40), 2.0)
    depth[:, :, ::2, ::2] = 0.0  # a dense grid of invalid pixels
    rgb = torch.full((4, 3, 40, 40), 128, dtype=torch.uint8)
    _, d, m = augment_batch(rgb, depth, (24, 24), generator=torch.Generator().manual_seed(1))
    assert set(torch.unique(d).tolist()) <= {0.0, 2.0}
    assert torch.equal(m, d > 0)


def test_resize_batch_test_path():
    rgb = torch.randint(0, 255, (2, 3, 48, 64), dtype=torch.uint8)
    depth = torch.rand(2, 1, 48, 64) + 0.5
    r, d, m = resize_batch(rgb, depth, (32, 32))
    assert r.shape == (2, 3, 32, 32) and d.shape == (2, 1, 32, 32) and m.all()
    assert r.min() >= 0 and r.max() <= 1


# --- download -----------------------------------------------------------------------------------------------
class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support; drops the connection after ``cut`` bytes when asked. ``mode``:
    'no-length' (no Content-Length, no ranges), 'ignore-range' (206 from byte 0 whatever was asked),
    'status:N' (answer HTTP N)."""

    cut: int | None = None
    mode: str = ""

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = Path(self.directory) / self.path.lstrip("/")
        mode = type(self).mode
        if mode.startswith("status:"):
            self.send_error(int(mode.split(":")[1]))
            return
        if not path.exists():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if mode == "no-length":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(data[: type(self).cut or len(data)])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if rng and mode == "ignore-range":
            self.send_response(206)
            self.send_header("Content-Range", f"bytes 0-{len(data) - 1}/{len(data)}")
        elif rng and int(rng.split("=")[1].split("-")[0]) >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if type(self).cut is not None and not rng:
            self.wfile.write(body[: type(self).cut])
            self.wfile.flush()
            self.connection.shutdown(2)  # simulate a dropped connection
            return
        self.wfile.write(body)


@pytest.fixture
def http_server(tmp_path):
    serve = tmp_path / "srv"
    serve.mkdir()
    handler = type("H", (_RangeHandler,), {})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(serve)))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield serve, f"http://127.0.0.1:{srv.server_address[1]}", handler
    srv.shutdown()


def test_download_resumes_and_checks(http_server, tmp_path):
    import hashlib

    from depthutils.data.download import DownloadError

    serve, base, handler = http_server
    payload = np.random.default_rng(0).bytes(300_000)
    (serve / "f.mat").write_bytes(payload)
    dest = tmp_path / "out" / "f.mat"
    handler.cut = 100_000
    with pytest.raises(DownloadError, match="run again to resume"):
        download_file(f"{base}/f.mat", dest, progress=False)
    assert not dest.exists()  # never a partial file under the final name
    part = dest.with_name("f.mat.part")
    assert 0 < part.stat().st_size < len(payload)
    handler.cut = None
    out = download_file(f"{base}/f.mat", dest, progress=False, sha256=hashlib.sha256(payload).hexdigest())
    assert out.read_bytes() == payload and not part.exists()


def test_download_checksum_mismatch(http_server, tmp_path):
    from depthutils.data.download import DownloadError

    serve, base, _ = http_server
    (serve / "g.mat").write_bytes(b"x" * 1000)
    dest = tmp_path / "g.mat"
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        download_file(f"{base}/g.mat", dest, progress=False, sha256="0" * 64)
    assert not dest.exists()


def test_download_404(http_server, tmp_path):
    from depthutils.data.download import DownloadError

    _, base, _ = http_server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{base}/missing.mat", tmp_path / "m.mat", progress=False)


def test_download_http_error_is_one_clear_line(http_server, tmp_path, capsys):
    from depthutils.cli import main

    serve, base, handler = http_server
    handler.mode = "status:500"
    from depthutils.data import download as dl

    urls = {"splits.mat": f"{base}/splits.mat"}
    original = dl.NYU_FILES.copy()
    dl.NYU_FILES.clear()
    dl.NYU_FILES.update(urls)
    try:
        assert main(["download", "--out", str(tmp_path / "d")]) == 2
    finally:
        dl.NYU_FILES.clear()
        dl.NYU_FILES.update(original)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 500" in err and "Traceback" not in err


def _mat_v73(path: Path) -> bytes:
    write_mat(path, pattern_rgb(2, 4, 6), pattern_depth(2, 4, 6))
    return path.read_bytes()


def test_download_refuses_an_html_page(http_server, tmp_path):
    from depthutils.data.download import DownloadError, check_mat_file

    serve, base, _ = http_server
    (serve / "nyu_depth_v2_labeled.mat").write_bytes(b"<!DOCTYPE html><html><body>Moved</body></html>" * 50)
    dest = tmp_path / "nyu_depth_v2_labeled.mat"
    with pytest.raises(DownloadError, match="HTML page"):
        download_file(f"{base}/nyu_depth_v2_labeled.mat", dest, progress=False, validate=check_mat_file)
    assert not dest.exists()  # never promoted, so never skipped "forever after"


def test_download_without_length_is_verified_before_it_is_promoted(http_server, tmp_path):
    from depthutils.data.download import DownloadError, check_mat_file

    serve, base, handler = http_server
    payload = _mat_v73(serve / "nyu_depth_v2_labeled.mat")
    handler.mode, handler.cut = "no-length", len(payload) // 2
    dest = tmp_path / "nyu_depth_v2_labeled.mat"
    with pytest.raises(DownloadError, match="Kept"):
        download_file(f"{base}/nyu_depth_v2_labeled.mat", dest, progress=False, validate=check_mat_file)
    assert not dest.exists()
    dest.with_name(dest.name + ".part").unlink()
    handler.cut = None
    assert (
        download_file(f"{base}/nyu_depth_v2_labeled.mat", dest, progress=False, validate=check_mat_file).read_bytes()
        == payload
    )


def test_download_part_longer_than_remote_and_ignored_range(http_server, tmp_path):
    serve, base, handler = http_server
    payload = np.random.default_rng(1).bytes(5000)
    (serve / "h.bin").write_bytes(payload)
    dest = tmp_path / "h.bin"
    dest.with_name("h.bin.part").write_bytes(b"z" * 6000)  # longer than the remote file: HTTP 416
    assert download_file(f"{base}/h.bin", dest, progress=False).read_bytes() == payload
    dest.unlink()
    dest.with_name("h.bin.part").write_bytes(payload[:1000])
    handler.mode = "ignore-range"  # a 206 that starts at byte 0 instead of 1000
    assert download_file(f"{base}/h.bin", dest, progress=False).read_bytes() == payload


# --- validation subset and full-resolution ground truth -------------------------------------------------------
def test_validation_split_is_contiguous_blocks_disjoint_from_test():
    from depthutils.data import validation_split

    train, test = np.arange(0, 1590, 2), np.arange(1, 1309, 2)  # 795 and 654 interleaved indices
    tr, val = validation_split(train, 0.1)
    assert len(val) == 80 and len(tr) == 715 and not set(val) & set(tr) and not set(val) & set(test)
    assert sorted(np.concatenate([tr, val]).tolist()) == sorted(train.tolist())
    pos = np.searchsorted(train, val)  # positions of the held-out images in the training list
    blocks = np.split(pos, np.where(np.diff(pos) > 1)[0] + 1)
    assert len(blocks) == 4 and all(len(b) == 20 for b in blocks)  # 4 contiguous blocks of 20, not random frames
    assert validation_split(train, 0.1)[1].tolist() == val.tolist()  # deterministic
    assert len(validation_split(train, 0.0)[1]) == 0


def test_load_dataset_val_is_independent_of_limit(tmp_path):
    rgb, depth = pattern_rgb(40, 6, 8), pattern_depth(40, 6, 8)
    root = write_folder(tmp_path / "f", rgb, (depth * 1000).astype(np.uint16))
    a = load_dataset(root, split="report", val_fraction=0.2).identity
    b = load_dataset(root, split="report", val_fraction=0.2, limit=3).identity
    assert a["val_indices"] == b["val_indices"] and b["n_train"] == 3
    assert not set(a["val_indices"]) & set(a["test_indices"]) and not set(a["val_indices"]) & set(a["train_indices"])


def test_gt_data_is_read_at_full_resolution_and_checked(tmp_path):
    rgb, depth = pattern_rgb(10, 12, 16), pattern_depth(10, 12, 16)
    small = write_folder(tmp_path / "small", rgb[:, ::2, ::2], (depth[:, ::2, ::2] * 1000).astype(np.uint16))
    full = write_folder(tmp_path / "full", rgb, (depth * 1000).astype(np.uint16))
    ds = load_dataset(small, split="report", val_fraction=0.0, gt_data=full)
    assert ds.test_gt.shape == (len(ds.test), 12, 16) and ds.identity["gt_resolution_hw"] == [12, 16]
    np.testing.assert_allclose(ds.test_gt, depth[ds.identity["test_indices"]], atol=1e-3)
    with pytest.raises(FileNotFoundError, match="no_such"):
        load_dataset(small, split="report", val_fraction=0.0, gt_data=tmp_path / "no_such")
    fewer = write_folder(tmp_path / "fewer", rgb[:9], (depth[:9] * 1000).astype(np.uint16))
    with pytest.raises(DataError, match="holds 9 pairs but the training data holds 10"):
        load_dataset(small, split="report", val_fraction=0.0, gt_data=fewer)
    other = write_folder(tmp_path / "other", rgb[:, :, :12], (depth[:, :, :12] * 1000).astype(np.uint16))
    with pytest.raises(DataError, match="aspect"):
        load_dataset(small, split="report", val_fraction=0.0, gt_data=other)


def test_split_without_test_images_and_bad_limits(tmp_path):
    from scipy.io import savemat

    rgb, depth = pattern_rgb(4, 6, 8), pattern_depth(4, 6, 8)
    root = write_folder(tmp_path / "f", rgb, (depth * 1000).astype(np.uint16))
    savemat(root / "splits.mat", {"trainNdxs": np.array([[1], [2], [3], [4]]), "testNdxs": np.zeros((0, 1))})
    with pytest.raises(DataError, match="0 test images"):
        load_dataset(root, split="official", val_fraction=0.0)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="positive"):
            load_dataset(root, split="report", val_fraction=0.0, limit=bad)


# --- data validation ------------------------------------------------------------------------------------------
def test_8bit_depth_png_is_refused(tmp_path):
    from PIL import Image

    from depthutils.data import read_depth_png

    p = tmp_path / "d.png"
    Image.fromarray(np.full((4, 4), 200, np.uint8), "L").save(p)
    with pytest.raises(DataError, match=r"d\.png is 8-bit.*uint16 millimetres"):
        read_depth_png(p)


def test_all_zero_depth_is_refused(tmp_path):
    rgb, depth = pattern_rgb(6, 6, 8), pattern_depth(6, 6, 8)
    depth[2] = 0.0
    root = write_folder(tmp_path / "f", rgb, (depth * 1000).astype(np.uint16))
    with pytest.raises(DataError, match=r"1 image\(s\) have no valid depth pixel.*\[2\]"):
        load_dataset(root, split="report", val_fraction=0.0)


def test_mat_with_millimetre_depths_is_refused(tmp_path):
    rgb, depth = pattern_rgb(3, 4, 6), pattern_depth(3, 4, 6)
    with pytest.raises(DataError, match="uint16.*millimetres"):
        read_nyu_mat(write_mat(tmp_path / "u16.mat", rgb, (depth * 1000).astype(np.uint16)))
    with pytest.raises(DataError, match="looks like millimetres"):
        read_nyu_mat(write_mat(tmp_path / "mm.mat", rgb, depth * 1000))


def test_oversized_training_image_is_named(tmp_path, monkeypatch):
    import depthutils.data.folder as folder

    rgb, depth = pattern_rgb(2, 6, 8), pattern_depth(2, 6, 8)
    root = write_folder(tmp_path / "f", rgb, (depth * 1000).astype(np.uint16))
    monkeypatch.setattr(folder, "MAX_DATA_PIXELS", 40)  # 6×8 = 48 pixels is "too large" here
    with pytest.raises(DataError, match=r"0001\.png is 8x6 pixels, over the limit of 40"):
        read_rgbd_folder(root)


# --- augmentation modes and geometry ----------------------------------------------------------------------------
def _frames(n: int = 3, h: int = 48, w: int = 64):
    rgb = torch.from_numpy(pattern_rgb(n, h, w)).permute(0, 3, 1, 2).contiguous()
    return rgb, torch.from_numpy(pattern_depth(n, h, w))[:, None]


def test_color_mode_keeps_the_reports_geometry_and_none_draws_nothing():
    rgb, depth = _frames()
    r1, d1, m1 = augment_batch(rgb, depth, (32, 32), generator=torch.Generator().manual_seed(3))
    r2, d2, m2 = augment_batch(rgb, depth, (32, 32), generator=torch.Generator().manual_seed(3), mode="color")
    assert torch.equal(d1, d2) and torch.equal(m1, m2) and not torch.equal(r1, r2)
    g = torch.Generator().manual_seed(5)
    state = g.get_state()
    a = augment_batch(rgb, depth, (32, 32), generator=g, mode="none")
    assert torch.equal(g.get_state(), state)  # deterministic: nothing drawn
    b = augment_batch(rgb, depth, (32, 32), mode="none")
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="augmentation mode"):
        augment_batch(rgb, depth, (32, 32), mode="strong")


def test_aspect_output_takes_the_whole_frame_and_a_square_output_the_short_side():
    rgb, depth = _frames(1, 48, 64)
    _, d43, _ = augment_batch(rgb, depth, (24, 32), mode="none")  # 4:3 out of a 4:3 frame: the whole frame
    ref = torch.nn.functional.interpolate(depth, size=(24, 32), mode="nearest")
    assert (d43 - ref).abs().max() < 0.11  # nearest sampling of the same frame, up to a one-pixel offset
    _, dsq, _ = augment_batch(rgb, depth, (24, 24), mode="none")  # square: the centred 48×48 of 48×64
    assert dsq[0, 0, 12, 0] == pytest.approx(float(depth[0, 0, 24, 8]), abs=0.02)


def test_scale_augmentation_multiplies_depth_by_the_crop_scale():
    rgb, depth = _frames(2)
    depth = torch.full_like(depth, 4.0)
    _, d, m = augment_batch(rgb, depth, (32, 32), mode="none", scale=(0.5, 0.5))
    assert torch.allclose(d[m], torch.full_like(d[m], 2.0))  # zoom ×2 → things look twice as near
