"""tools/gpu_data.py: an NYU folder copy packed for the GPU machine unpacks to the same pixels, and a damaged pack
is refused."""

from __future__ import annotations

import io
import lzma
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import load_tool


@pytest.fixture
def tool():
    return load_tool("gpu_data")


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "nyu"
    (src / "rgb").mkdir(parents=True)
    (src / "depth").mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, 4):
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(src / "rgb" / f"{i:04d}.jpg")
        Image.fromarray(rng.integers(700, 10000, (12, 16)).astype(np.uint16)).save(src / "depth" / f"{i:04d}.png")
    (src / "splits.mat").write_bytes(b"not read here")
    return src


def _pixels(p: Path) -> np.ndarray:
    with Image.open(p) as im:
        return np.asarray(im)


def test_round_trip_keeps_every_pixel(tool, folder, tmp_path):
    tool.pack(folder, tmp_path / "packed")
    tool.unpack(tmp_path / "packed", tmp_path / "out")
    for sub in ("rgb", "depth"):
        for p in sorted((folder / sub).iterdir()):
            got = _pixels(tmp_path / "out" / sub / p.name)
            assert got.dtype == _pixels(p).dtype and np.array_equal(got, _pixels(p)), p
    assert (tmp_path / "out" / "splits.mat").read_bytes() == b"not read here"


def test_a_damaged_pack_is_refused(tool, folder, tmp_path):
    packed = tmp_path / "packed"
    tool.pack(folder, packed)
    depth = np.load(io.BytesIO(lzma.decompress((packed / "depth.npy.xz").read_bytes())))
    depth[0, 0, 0] += 1
    buf = io.BytesIO()
    np.save(buf, depth)
    (packed / "depth.npy.xz").write_bytes(lzma.compress(buf.getvalue()))
    with pytest.raises(SystemExit, match="differ"):
        tool.unpack(packed, tmp_path / "out")


def test_a_changed_image_is_refused(tool, folder, tmp_path):
    packed = tmp_path / "packed"
    tool.pack(folder, packed)
    first = sorted((packed / "rgb").iterdir())[0]
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(first)
    with pytest.raises(SystemExit, match="differ"):
        tool.unpack(packed, tmp_path / "out")
