"""Shared fixtures: tiny files in the official layouts with asymmetric patterns, the real data when present."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from depthutils.study import PROFILES

#: CLI arguments of a training run that takes seconds: the study's ``smoke`` profile (tiny synthetic data, 64×64,
#: 8 images), as the manifest declares it.
TINY = [
    "--data",
    "synthetic",
    *(x for k, v in PROFILES["smoke"].settings.items() for x in (f"--{k.replace('_', '-')}", str(v))),
    "--quiet",
]

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_tool(name: str) -> ModuleType:
    """A script of the repository's tools/ folder, imported as a module (tools/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pattern_rgb(n: int, h: int, w: int) -> np.ndarray:
    """uint8 N×H×W×3 whose every (i, y, x, c) is distinct enough that a transpose or mirror is caught."""
    i, y, x, c = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((i * 37 + y * 11 + x * 3 + c * 101) % 251).astype(np.uint8)


def pattern_depth(n: int, h: int, w: int) -> np.ndarray:
    i, y, x = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
    return (1.0 + i + 0.1 * y + 0.01 * x).astype(np.float32)


def write_mat(path: Path, rgb: np.ndarray, depth: np.ndarray, **extra) -> Path:
    """Write rgb N×H×W×3 / depth N×H×W as h5py sees the official MATLAB file: (N,3,W,H) and (N,W,H)."""
    import h5py

    with h5py.File(path, "w") as f:
        f["images"] = rgb.transpose(0, 3, 2, 1)
        f["depths"] = depth.transpose(0, 2, 1)
        for k, v in extra.items():
            f[k] = v
    return path


def write_folder(root: Path, rgb: np.ndarray, depth_mm: np.ndarray, ext: str = ".png") -> Path:
    from PIL import Image

    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for i in range(len(rgb)):
        Image.fromarray(rgb[i]).save(root / "rgb" / f"{i + 1:04d}{ext}")
        Image.fromarray(depth_mm[i].astype(np.uint16)).save(root / "depth" / f"{i + 1:04d}.png")
    return root


@pytest.fixture
def tiny_mat(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rgb, depth = pattern_rgb(4, 6, 8), pattern_depth(4, 6, 8)
    return write_mat(tmp_path / "nyu.mat", rgb, depth), rgb, depth


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Synthetic renders go to a per-session cache, never the user's ~/.cache; no real data leaks in."""
    monkeypatch.setenv("DEPTHUTILS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("DEPTHUTILS_DATA", raising=False)


def shared_or_skip(name: str) -> Path:
    p = SHARED / name
    if not p.exists():
        pytest.skip(f"{p} is absent (real data lives only on the development machines)")
    return p
