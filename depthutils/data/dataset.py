"""Choosing and loading the data: real NYU (``.mat`` or folder), any RGB-D folder, or the synthetic default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from . import fingerprint
from .folder import list_rgbd_pairs, read_rgbd_folder
from .nyu import NYU_N, DataError, official_split, read_nyu_mat, report_split, validation_split

__all__ = [
    "DepthData",
    "load_dataset",
    "load_data",
    "resolve_data",
    "synthetic_path",
    "DATA_ENV",
    "SYNTHETIC",
    "SYNTH_COUNT",
    "SYNTH_SIZE",
]

#: Environment variable that points the pipeline and CLI at real data (a .mat file or an RGB-D folder).
DATA_ENV = "DEPTHUTILS_DATA"
#: The spelling that selects the built-in synthetic data.
SYNTHETIC = "synthetic"


@dataclass
class DepthData:
    """Loaded pairs and their split. ``rgb`` uint8 N×H×W×3; ``depth`` float32 N×H×W metres (0 = invalid).

    ``train`` / ``val`` / ``test`` index into ``rgb``/``depth``. ``test_gt`` is the test images' ground truth at
    full resolution (float32 N_test×H'×W' metres) when it was read from ``gt_data``, else None (the standard
    protocol then scores against ``depth``). ``identity`` is the plain-typed record that every result and
    checkpoint carries (what data, which split, which indices).
    """

    rgb: np.ndarray
    depth: np.ndarray
    train: np.ndarray
    test: np.ndarray
    identity: dict[str, Any] = field(default_factory=dict)
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    test_gt: np.ndarray | None = None

    @property
    def is_synthetic(self) -> bool:
        return self.identity.get("kind") == "synthetic"


#: The synthetic set a run uses unless told otherwise: as many rooms as NYU's labeled pairs, rendered at 192×256.
#: TrainConfig's ``synth_count`` / ``synth_size`` defaults are these.
SYNTH_COUNT: int = NYU_N
SYNTH_SIZE: tuple[int, int] = (192, 256)


def resolve_data(data: str | os.PathLike | None) -> str:
    """``data`` if given, else ``$DEPTHUTILS_DATA``, else ``'synthetic'``."""
    if data is None or str(data) == "":
        data = os.environ.get(DATA_ENV) or SYNTHETIC
    return str(data)


def _cache_dir() -> Path:
    return Path(os.environ.get("DEPTHUTILS_CACHE", Path.home() / ".cache" / "depthutils"))


def synthetic_path(count: int, size: tuple[int, int], seed: int) -> Path:
    """Where the synthetic set for (count, size = H×W, seed) is cached; rendered on first use."""
    from .synthetic import write_synthetic_mat

    path = _cache_dir() / f"synthetic_{size[0]}x{size[1]}_hw_n{count}_seed{seed}" / "nyu_depth_v2_labeled.mat"
    if not path.exists():
        _remove_stale_renders(_cache_dir())
        write_synthetic_mat(path, count=count, seed=seed, size=size)
    return path


#: A temporary render untouched for this long belongs to a killed process (a render writes every few seconds).
_STALE_S = 3600


def _remove_stale_renders(cache: Path) -> list[Path]:
    """Delete the half-written renders (``.<name>.*.tmp``) that a killed process left in the cache: untouched for an
    hour, so a render in progress elsewhere keeps its file. Without this a kill during a 4000-room render left
    760 MB behind for good."""
    import time

    stale = [p for p in cache.glob("synthetic_*/.*.tmp") if time.time() - p.stat().st_mtime > _STALE_S]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _mat_info(path: Path) -> tuple[int, bool]:

    from .nyu import _open_mat

    with _open_mat(path) as f:
        if "images" not in f:
            raise DataError(f"{path} lacks dataset 'images'; found {sorted(f.keys())}.")
        return int(f["images"].shape[0]), bool(f.attrs.get("synthetic", 0))


def _source(spec: str) -> tuple[Path, int, bool, Path]:
    """(path, number of pairs, synthetic?, splits.mat path) of a .mat file or an RGB-D folder."""
    path = Path(spec).expanduser()
    if not path.exists():
        from .nyu import GET_DATA_HINT

        raise FileNotFoundError(f"data not found: {path}. {GET_DATA_HINT}")
    if path.is_dir():
        return path, len(list_rgbd_pairs(path)), False, path / "splits.mat"
    n, synthetic = _mat_info(path)
    return path, n, synthetic, path.with_name("splits.mat")


def _read(path: Path, idx: np.ndarray, depth_scale: float) -> tuple[np.ndarray, np.ndarray]:
    if path.is_dir():
        return read_rgbd_folder(path, idx, depth_scale=depth_scale)
    return read_nyu_mat(path, idx)


def _read_gt(
    gt_data: str | os.PathLike, test: np.ndarray, n_source: int, data_hw: tuple[int, int], depth_scale: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """The test images' depth from the full-resolution copy ``gt_data``, checked against the training data."""
    path, n, _, _ = _source(str(gt_data))
    if n != n_source:
        raise DataError(
            f"--gt-data {path} holds {n} pairs but the training data holds {n_source}; give the "
            f"full-size copy of the same data (e.g. nyu_v2_labeled beside nyu_v2_labeled_256x192)."
        )
    _, gt = _read(path, test, depth_scale)
    h, w = gt.shape[1:]
    if abs(h / w - data_hw[0] / data_hw[1]) > 0.02:
        raise DataError(
            f"--gt-data {path} is {h}x{w} (HxW) but the data is {data_hw[0]}x{data_hw[1]}: the aspect "
            f"ratios differ, so it is not the same frames at another size."
        )
    if h < data_hw[0]:
        raise DataError(
            f"--gt-data {path} is {h}x{w}, smaller than the data ({data_hw[0]}x{data_hw[1]}); give the "
            f"full-resolution copy."
        )
    return gt, {"gt_path": str(path), "gt_resolution_hw": [int(h), int(w)]}


def load_dataset(
    data: str | os.PathLike | None = None,
    *,
    split: str,
    val_fraction: float,
    split_seed: int = 0,
    limit: int | None = None,
    test_limit: int | None = None,
    with_train: bool = True,
    gt_data: str | os.PathLike | None = None,
    synth_count: int = SYNTH_COUNT,
    synth_size: tuple[int, int] = SYNTH_SIZE,
    synth_seed: int = 0,
    depth_scale: float = 0.001,
) -> DepthData:
    """Load the data the study trains and tests on.

    data: ``'synthetic'`` (default when ``$DEPTHUTILS_DATA`` is unset), a ``.mat`` file in the official layout,
        or a folder of ``rgb/`` + ``depth/`` pairs (depth PNG × ``depth_scale`` = metres).
    split: ``'report'`` (seeded random 1111/338 on 1449 pairs, same fraction otherwise) or ``'official'``
        (795/654 from ``splits.mat`` beside the file or in the folder). No default here: a run's is TrainConfig's.
    val_fraction: share of the training split held out as validation (contiguous blocks, see
        :func:`validation_split`); it is chosen before ``limit`` applies, so it is the same for every limit.
        No default here either (0.0: no validation images).
    limit / test_limit: keep only the first N training / test indices (None: all). Only the kept pairs are read.
    with_train: False reads no training (and no validation) images, for evaluation.
    gt_data: the same pairs at full resolution; the test images' depth is read from it into ``test_gt``.
    synth_size: H×W of the synthetic renders.
    """
    for name, v in (("limit", limit), ("test_limit", test_limit)):
        if v is not None and v < 1:
            raise ValueError(f"{name} must be a positive number of images or None (all), got {v}")
    spec = resolve_data(data)
    if spec == SYNTHETIC:
        path = synthetic_path(synth_count, cast("tuple[int, int]", tuple(synth_size)), synth_seed)
    else:
        path = Path(spec).expanduser()
    path, n, synthetic, splits_file = _source(str(path))

    train, test = _split(split, path, n, splits_file, split_seed)
    train, val = validation_split(train, val_fraction)
    split_sizes = {"train": int(len(train)), "val": int(len(val)), "test": int(len(test))}  # before any limit
    train, test = train[:limit], test[:test_limit]
    if not with_train:
        train, val = train[:0], val[:0]

    keep = np.concatenate([train, val, test])
    rgb, depth = _read(path, keep, depth_scale)
    empty: np.ndarray | list[int] = np.flatnonzero(~(depth > 0).reshape(len(depth), -1).any(1)) if len(depth) else []
    if len(empty):
        raise DataError(
            f"{path}: {len(empty)} image(s) have no valid depth pixel (all zero), e.g. index "
            f"{[int(keep[i]) for i in empty[:5]]} (0-based); remove them or fix their depth files."
        )
    kind = "synthetic" if synthetic or spec == SYNTHETIC else "real"
    identity = {
        "kind": kind,
        "name": _name(kind, path),
        "path": str(path),
        "n_pairs_in_source": n,
        "resolution_wh": [int(rgb.shape[2]), int(rgb.shape[1])] if len(rgb) else None,
        "split": split,
        "split_seed": split_seed if split == "report" else None,
        "val_fraction": val_fraction,
        "split_sizes": split_sizes,
        **_indices(train, val, test),
    }
    if spec == SYNTHETIC:
        identity.update(synth_count=synth_count, synth_size_hw=list(synth_size), synth_seed=synth_seed)
    a, b = len(train), len(train) + len(val)
    if b:  # what the model will see, by content: evaluation refuses these images in any copy (data/fingerprint.py)
        identity["seen_fingerprints"] = {"kind": fingerprint.KIND, "images": "train + val", "b64": _seen(rgb[:b])}
    test_gt = None
    if gt_data is not None:
        test_gt, gt_identity = _read_gt(gt_data, test, n, rgb.shape[1:3], depth_scale)
        identity.update(gt_identity)
    return DepthData(rgb, depth, np.arange(a), np.arange(b, len(keep)), identity, val=np.arange(a, b), test_gt=test_gt)


def _seen(rgb: np.ndarray) -> str:
    return fingerprint.pack(fingerprint.fingerprints(rgb))


def _split(split: str, path: Path, n: int, splits_file: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) 0-based indices of ``split`` for the ``n`` pairs at ``path``; refused when it is unusable."""
    if split == "official":
        if not splits_file.exists():
            raise DataError(f"split 'official' needs {splits_file}; it is missing. Use --split report instead.")
        train, test = official_split(splits_file, n)
        if len(test) == 0 or len(train) == 0:
            raise DataError(
                f"{splits_file} lists {len(train)} training and {len(test)} test images; the official "
                f"split needs both (no test images: nothing to score). Use --split report."
            )
        if max(train.max(), test.max()) >= n:
            raise DataError(
                f"{splits_file} indexes up to {max(train.max(), test.max()) + 1} but {path} holds {n} pairs."
            )
    elif split == "report":
        train, test = report_split(n, seed=seed)
    else:
        raise ValueError(f"unknown split {split!r}; use 'report' or 'official'")
    if len(test) == 0:
        raise DataError(f"the {split!r} split of {path} has no test images; use another split or data.")
    return train, test


def _name(kind: str, path: Path) -> str:
    """The data's name in tables and figure titles."""
    if kind == "synthetic":
        return "synthetic rooms"
    return f"NYU-Depth V2 labeled ({path.name})" if "nyu" in str(path).lower() else path.name


def _indices(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> dict[str, Any]:
    """The counts and source indices a run records of its data (resume and evaluation check them)."""
    return {
        "n_train": int(len(train)),
        "n_val": int(len(val)),
        "n_test": int(len(test)),
        "train_indices": train.tolist(),
        "val_indices": val.tolist(),
        "test_indices": test.tolist(),
    }


class DataSpec(Protocol):
    """What :func:`load_data` reads of a run's settings (a ``TrainConfig`` is one): the data layer depends on these
    fields, not on the configuration class above it."""

    data: str | None
    gt_data: str | None
    split: str
    seed: int
    val_fraction: float
    limit: int | None
    test_limit: int | None
    synth_count: int
    synth_size: tuple[int, int]


def load_data(cfg: DataSpec, *, with_train: bool = True) -> DepthData:
    """The data of a run as its settings describe it (``--data``, split, validation share, limits, full-size GT,
    synthetic settings): :func:`load_dataset` with them. ``with_train=False`` reads the test images only, for
    evaluation."""
    return load_dataset(
        cfg.data,
        split=cfg.split,
        split_seed=cfg.seed,
        val_fraction=cfg.val_fraction,
        limit=cfg.limit,
        test_limit=cfg.test_limit,
        with_train=with_train,
        gt_data=cfg.gt_data,
        synth_count=cfg.synth_count,
        synth_size=cfg.synth_size,
    )
