"""Pack an NYU folder copy (``rgb/NNNN.jpg``, ``depth/NNNN.png``, ``splits.mat``) small enough to travel to the GPU
machine beside the repository (the device tool's 64 MiB limit), and unpack it there, bit for bit.

    python tools/gpu_data.py pack ../shared/data/nyu_v2_labeled_192x144 .gpudata/nyu192   # here
    python3 tools/gpu_data.py unpack .gpudata/nyu192 /dev/shm/nyu192                      # there

Lossless on what the loader reads: the JPEGs get optimised Huffman tables (``jpegtran -optimize``, when it is
installed; the decoded pixels are checked equal, else the file is copied as it is), and the 16-bit depth PNGs become
one xz-compressed uint16 array (27% smaller than the PNGs), written back as PNGs on unpacking. ``manifest.json``
holds the SHA-256 of the decoded depth, of every decoded RGB image, and unpacking checks both.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _digest(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def pack(src: Path, dest: Path) -> None:
    rgb_files = sorted((src / "rgb").glob("*.jpg"))
    depth_files = sorted((src / "depth").glob("*.png"))
    if not rgb_files or [p.stem for p in rgb_files] != [p.stem for p in depth_files]:
        sys.exit(f"{src}: needs rgb/NNNN.jpg and depth/NNNN.png with the same names")
    if dest.exists():
        sys.exit(f"{dest} exists; remove it first")
    (dest / "rgb").mkdir(parents=True)
    shutil.copy2(src / "splits.mat", dest / "splits.mat")
    jpegtran = shutil.which("jpegtran")
    optimised = 0
    rgb = [_pixels(p) for p in rgb_files]  # the source's decoded pixels: each optimised file is checked against them
    for p, pixels in zip(rgb_files, rgb, strict=True):
        out = dest / "rgb" / p.name
        if jpegtran:
            subprocess.run([jpegtran, "-optimize", "-copy", "none", "-outfile", str(out), str(p)], check=True)
            if np.array_equal(_pixels(out), pixels):
                optimised += 1
                continue
        shutil.copy2(p, out)
    depth = np.stack([_pixels(p) for p in depth_files])  # N×H×W uint16 millimetres
    if depth.dtype != np.uint16:
        sys.exit(f"{src}/depth: expected 16-bit PNGs, got {depth.dtype}")
    buf = io.BytesIO()
    np.save(buf, depth)
    (dest / "depth.npy.xz").write_bytes(lzma.compress(buf.getvalue(), preset=6))
    manifest = {
        "source": str(src),
        "names": [p.stem for p in depth_files],
        "depth_sha256": _digest(list(depth)),
        "rgb_sha256": _digest(rgb),
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    print(f"{dest}: {len(rgb_files)} pairs, {size / 2**20:.1f} MiB ({optimised} JPEGs optimised)")


def unpack(packed: Path, out: Path) -> None:
    manifest = json.loads((packed / "manifest.json").read_text())
    depth = np.load(io.BytesIO(lzma.decompress((packed / "depth.npy.xz").read_bytes())))
    (out / "depth").mkdir(parents=True, exist_ok=True)
    shutil.copytree(packed / "rgb", out / "rgb", dirs_exist_ok=True)
    shutil.copy2(packed / "splits.mat", out / "splits.mat")
    for name, d in zip(manifest["names"], depth, strict=True):
        Image.fromarray(d).save(out / "depth" / f"{name}.png")
    names = manifest["names"]
    got_depth = _digest([_pixels(out / "depth" / f"{n}.png") for n in names])
    got_rgb = _digest([_pixels(out / "rgb" / f"{n}.jpg") for n in names])
    if (got_depth, got_rgb) != (manifest["depth_sha256"], manifest["rgb_sha256"]):
        sys.exit(f"{out}: the unpacked pixels differ from {packed}/manifest.json's checksums")
    print(f"{out}: {len(names)} pairs, checksums match the source's pixels")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["pack", "unpack"])
    ap.add_argument("src", type=Path)
    ap.add_argument("dest", type=Path)
    a = ap.parse_args()
    (pack if a.action == "pack" else unpack)(a.src, a.dest)


if __name__ == "__main__":
    main()
