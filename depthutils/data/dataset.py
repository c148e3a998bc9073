"""Choosing and loading the data: real NYU (``.mat`` or folder), any RGB-D folder, or the synthetic default."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .folder import list_rgbd_pairs, read_rgbd_folder
from .nyu import DataError, official_split, read_nyu_mat, report_split

__all__ = ["DepthData", "load_dataset", "resolve_data", "synthetic_path", "DATA_ENV", "SYNTHETIC"]

#: Environment variable that points the pipeline and CLI at real data (a .mat file or an RGB-D folder).
DATA_ENV = "DEPTHUTILS_DATA"
#: The spelling that selects the built-in synthetic data.
SYNTHETIC = "synthetic"


@dataclass
class DepthData:
    """Loaded pairs and their split. ``rgb`` uint8 N×H×W×3; ``depth`` float32 N×H×W metres (0 = invalid).

    ``train`` / ``test`` index into ``rgb``/``depth``; ``identity`` is the plain-typed record that every
    result and checkpoint carries (what data, which split, which indices).
    """

    rgb: np.ndarray
    depth: np.ndarray
    train: np.ndarray
    test: np.ndarray
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def is_synthetic(self) -> bool:
        return self.identity.get("kind") == "synthetic"


def resolve_data(data: str | os.PathLike | None) -> str:
    """``data`` if given, else ``$DEPTHUTILS_DATA``, else ``'synthetic'``."""
    if data is None or str(data) == "":
        data = os.environ.get(DATA_ENV) or SYNTHETIC
    return str(data)


def _cache_dir() -> Path:
    return Path(os.environ.get("DEPTHUTILS_CACHE", Path.home() / ".cache" / "depthutils"))


def synthetic_path(count: int, size: tuple[int, int], seed: int) -> Path:
    """Where the synthetic set for (count, size, seed) is cached; rendered on first use."""
    from .synthetic import write_synthetic_mat

    path = _cache_dir() / f"synthetic_{size[0]}x{size[1]}_n{count}_seed{seed}" / "nyu_depth_v2_labeled.mat"
    if not path.exists():
        write_synthetic_mat(path, count=count, seed=seed, size=size)
    return path


def _mat_info(path: Path) -> tuple[int, bool]:

    from .nyu import _open_mat

    with _open_mat(path) as f:
        if "images" not in f:
            raise DataError(f"{path} lacks dataset 'images'; found {sorted(f.keys())}.")
        return int(f["images"].shape[0]), bool(f.attrs.get("synthetic", 0))


def load_dataset(
    data: str | os.PathLike | None = None, *, split: str = "report", split_seed: int = 0, limit: int | None = None,
    synth_count: int = 1449, synth_size: tuple[int, int] = (256, 192), synth_seed: int = 0,
    depth_scale: float = 0.001, test_limit: int | None = None,
) -> DepthData:
    """Load the data the study trains on.

    data: ``'synthetic'`` (default when ``$DEPTHUTILS_DATA`` is unset), a ``.mat`` file in the official layout,
        or a folder of ``rgb/`` + ``depth/`` pairs (depth PNG × ``depth_scale`` = metres).
    split: ``'report'`` (seeded random 1111/338 on 1449 pairs, same fraction otherwise) or ``'official'``
        (795/654 from ``splits.mat`` beside the file or in the folder).
    limit / test_limit: keep only the first N training / test indices (quick runs). Only the kept pairs are read.
    """
    spec = resolve_data(data)
    if spec == SYNTHETIC:
        path = synthetic_path(synth_count, synth_size, synth_seed)
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            from .nyu import GET_DATA_HINT

            raise FileNotFoundError(f"data not found: {path}. {GET_DATA_HINT}")
    if path.is_dir():
        n, synthetic, splits_file = len(list_rgbd_pairs(path)), False, path / "splits.mat"
    else:
        (n, synthetic), splits_file = _mat_info(path), path.with_name("splits.mat")

    if split == "official":
        if not splits_file.exists():
            raise DataError(f"split 'official' needs {splits_file}; it is missing. Use --split report instead.")
        train, test = official_split(splits_file)
        if max(train.max(), test.max()) >= n:
            raise DataError(f"{splits_file} indexes up to {max(train.max(), test.max()) + 1} but {path} holds {n} pairs.")
    elif split == "report":
        train, test = report_split(n, seed=split_seed)
    else:
        raise ValueError(f"unknown split {split!r}; use 'report' or 'official'")
    train, test = train[:limit], test[:test_limit]

    keep = np.concatenate([train, test])
    if path.is_dir():
        rgb, depth = read_rgbd_folder(path, keep, depth_scale=depth_scale)
    else:
        rgb, depth = read_nyu_mat(path, keep)
    identity = {
        "kind": "synthetic" if synthetic or spec == SYNTHETIC else "real",
        "name": "synthetic rooms" if (synthetic or spec == SYNTHETIC) else f"NYU-Depth V2 labeled ({path.name})"
        if "nyu" in str(path).lower() else path.name,
        "path": str(path),
        "n_pairs_in_source": n,
        "resolution_wh": [int(rgb.shape[2]), int(rgb.shape[1])] if len(rgb) else None,
        "split": split,
        "split_seed": split_seed if split == "report" else None,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "train_indices": train.tolist(),
        "test_indices": test.tolist(),
    }
    if spec == SYNTHETIC:
        identity.update(synth_count=synth_count, synth_size=list(synth_size), synth_seed=synth_seed)
    k = len(train)
    return DepthData(rgb, depth, np.arange(k), np.arange(k, len(keep)), identity)
