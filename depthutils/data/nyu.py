"""NYU-Depth V2 labeled file (MATLAB v7.3 = HDF5) and the two train/test splits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DataError",
    "GET_DATA_HINT",
    "read_nyu_mat",
    "read_nyu_scene_types",
    "official_split",
    "report_split",
    "validation_split",
    "sanitize_depth",
]

#: What to tell a user whose data is missing.
GET_DATA_HINT = (
    "Get the data with `python -m depthutils download --out data/` (2.8 GB), point --data / DEPTHUTILS_DATA "
    "at a folder of rgb/NNNN.jpg + depth/NNNN.png pairs, or use the built-in synthetic data "
    "(`--data synthetic`, or `python -m depthutils synth`)."
)

#: The report's own split: 1111 train / 338 test out of 1449.
REPORT_N_TEST = 338
NYU_N = 1449


class DataError(ValueError):
    """A data file or folder is missing, malformed or inconsistent. The message names it."""


def sanitize_depth(depth: np.ndarray) -> np.ndarray:
    """float32 copy with NaN, inf, zero and negative depths set to 0, the one 'invalid' value."""
    depth = np.asarray(depth, dtype=np.float32)
    bad = ~np.isfinite(depth) | (depth <= 0)
    if bad.any():
        depth = depth.copy()
        depth[bad] = 0.0
    return depth


def _open_mat(path: str | Path):
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"NYU .mat file not found: {path}. {GET_DATA_HINT}")
    try:
        return h5py.File(path, "r")
    except OSError as e:  # not HDF5 (e.g. a MATLAB v5 file or HTML error page) or truncated
        size = path.stat().st_size
        raise DataError(
            f"{path} ({size} bytes) is not a readable HDF5 / MATLAB v7.3 file ({e}). "
            f"It may be truncated or not the labeled NYU file. {GET_DATA_HINT}"
        ) from e


def read_nyu_mat(path: str | Path, indices: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read RGB-D pairs from the official ``nyu_depth_v2_labeled.mat`` (or a file in its layout).

    h5py sees MATLAB's column-major arrays transposed: ``images`` is uint8 (N, 3, W, H) and ``depths`` is
    float32 (N, W, H). Only the requested ``indices`` (0-based) are read, so the 2.8 GB file is never loaded
    whole unless asked.

    Returns ``(rgb, depth)``: uint8 N×H×W×3 and float32 N×H×W in metres, invalid depth (NaN, inf, ≤ 0) set to 0.
    """
    with _open_mat(path) as f:
        missing = [k for k in ("images", "depths") if k not in f]
        if missing:
            raise DataError(
                f"{path} lacks dataset(s) {missing}; found {sorted(f.keys())}. "
                f"Expected the labeled NYU layout: images uint8 (N,3,W,H) and depths float32 (N,W,H)."
            )
        images, depths = f["images"], f["depths"]
        if (
            images.ndim != 4
            or images.shape[1] != 3
            or depths.ndim != 3
            or images.shape[0] != depths.shape[0]
            or images.shape[2:] != depths.shape[1:]
        ):
            raise DataError(
                f"{path}: wrong shapes, images {images.shape} and depths {depths.shape}; expected images "
                f"(N, 3, W, H) and depths (N, W, H) with the same N, W, H, e.g. (1449, 3, 640, 480) / (1449, 640, 480)."
            )
        if not np.issubdtype(depths.dtype, np.floating):
            raise DataError(
                f"{path}: depths are {depths.dtype}, not float metres as in the labeled NYU file; "
                f"integer depths are usually millimetres. Convert them to float32 metres."
            )
        n = images.shape[0]
        idx = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"{path} holds {n} pairs; indices must be in [0, {n - 1}], got {idx.min()}..{idx.max()}")
        w, h = images.shape[2], images.shape[3]
        rgb = np.empty((idx.size, h, w, 3), np.uint8)
        depth = np.empty((idx.size, h, w), np.float32)
        try:
            for k, i in enumerate(idx):  # one image at a time: lazy and order-preserving
                rgb[k] = images[int(i)].transpose(2, 1, 0)
                depth[k] = depths[int(i)].T
        except OSError as e:
            raise DataError(f"{path}: could not read pair {int(i)} ({e}); the file is probably truncated.") from e
    depth = sanitize_depth(depth)
    valid = depth[depth > 0]
    if valid.size and np.median(valid) > 100:  # no room is 100 m deep; millimetres are
        raise DataError(
            f"{path}: the median depth is {np.median(depth[depth > 0]):.0f}, which looks like millimetres; "
            f"the labeled NYU layout stores metres. Divide the depths by 1000."
        )
    return rgb, depth


def read_nyu_scene_types(path: str | Path) -> list[str] | None:
    """Scene type per image (e.g. 'kitchen') when the file has ``sceneTypes``; None otherwise."""
    with _open_mat(path) as f:
        if "sceneTypes" not in f:
            return None
        refs = f["sceneTypes"][0]
        return ["".join(chr(int(c)) for c in np.asarray(f[r]).ravel()) for r in refs]


def official_split(splits_mat: str | Path, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The official 795 / 654 split as 0-based ``(train, test)`` indices. ``splits.mat`` stores them 1-based.

    Checked before use: whole numbers from 1 to ``n`` (the pairs in the data, when given), no index twice, and no
    image in both training and test; anything else is a :class:`DataError` that names the file and the indices."""
    from scipy.io import loadmat

    splits_mat = Path(splits_mat)
    if not splits_mat.exists():
        raise FileNotFoundError(f"split file not found: {splits_mat}. {GET_DATA_HINT}")
    try:
        m = loadmat(splits_mat)
    except Exception as e:  # scipy raises several types for malformed files
        raise DataError(f"{splits_mat} is not a readable MATLAB split file ({e}).") from e
    if "trainNdxs" not in m or "testNdxs" not in m:
        found = sorted(k for k in m if not k.startswith("__"))
        raise DataError(f"{splits_mat} lacks trainNdxs/testNdxs; found {found}.")
    train, test = (_split_indices(splits_mat, key, m[key], n) for key in ("trainNdxs", "testNdxs"))
    both = np.intersect1d(train, test)
    if len(both):
        raise DataError(
            f"{splits_mat}: {len(both)} images are in both trainNdxs and testNdxs (1-based: "
            f"{(both[:5] + 1).tolist()}{'…' if len(both) > 5 else ''}); a test image must never be trained on. "
            "Fix the file or use --split report."
        )
    return train, test


def _split_indices(path: Path, key: str, raw: Any, n: int | None) -> np.ndarray:
    """One list of 1-based indices from splits.mat → 0-based int64, or a DataError naming the bad entries."""
    v = np.asarray(raw).ravel()
    if not np.issubdtype(v.dtype, np.number):
        raise DataError(f"{path}: {key} holds {v.dtype} values, not indices; fix the file or use --split report.")
    v = v.astype(np.float64)
    bad = v[~np.isfinite(v) | (v != np.round(v))]
    if len(bad):
        raise DataError(f"{path}: {key} holds non-integer indices {bad[:5].tolist()}; indices are whole numbers.")
    top = n if n is not None else np.inf
    out = v[(v < 1) | (v > top)]
    if len(out):
        limit = f"1 to {n} (the pairs in the data)" if n is not None else "from 1 (1-based)"
        raise DataError(f"{path}: {key} holds indices {out[:5].astype(np.int64).tolist()} outside {limit}.")
    idx = v.astype(np.int64)
    uniq, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"{path}: {key} lists indices {uniq[counts > 1][:5].tolist()} more than once.")
    return idx - 1


def report_split(n: int = NYU_N, *, seed: int = 0, n_test: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The report's own seeded random split: 1111 train / 338 test of the 1449 pairs.

    For another dataset size ``n`` the same test fraction (338/1449) is used. Sorted 0-based indices;
    the same ``(n, seed)`` always gives the same split.
    """
    if n_test is None:
        n_test = REPORT_N_TEST if n == NYU_N else max(1, round(n * REPORT_N_TEST / NYU_N))
    if not 0 < n_test < n:
        raise ValueError(f"report_split: need 0 < n_test < n, got n={n}, n_test={n_test}")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def validation_split(train: np.ndarray, fraction: float = 0.1, *, block: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Hold out about ``fraction`` of the (sorted) training indices as a validation subset: ``(train, val)``.

    NYU's neighbouring indices are often frames of the same scene, so the subset is a few contiguous blocks of
    about ``block`` indices, spread evenly over the split, never single random frames (a random frame would have
    its neighbour in training). Deterministic; the test indices are never involved. ``fraction`` 0 gives an
    empty validation subset.
    """
    train = np.sort(np.asarray(train, dtype=np.int64))
    n = len(train)
    n_val = round(n * fraction)
    if fraction <= 0 or n < 4:
        return train, train[:0]
    n_val = min(max(1, n_val), n - 2)  # keep at least 2 training images (BatchNorm)
    n_blocks = max(1, round(n_val / block))
    sizes = [n_val // n_blocks + (k < n_val % n_blocks) for k in range(n_blocks)]
    held = np.zeros(n, bool)
    for k, size in enumerate(sizes):
        start = min(max(0, round((k + 0.5) * n / n_blocks - size / 2)), n - size)
        held[start : start + size] = True
    return train[~held], train[held]
