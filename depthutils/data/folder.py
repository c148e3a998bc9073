"""Folders of RGB-D pairs: ``rgb/NNNN.jpg|png`` + ``depth/NNNN.png`` (uint16, metres = value × depth_scale)."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .nyu import GET_DATA_HINT, DataError, sanitize_depth

__all__ = ["list_rgbd_pairs", "read_rgbd_folder", "read_rgb", "read_depth_png"]

RGB_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Training and evaluation images larger than this (pixels) are refused: the study resizes everything to about
#: 256×192, and a huge image is more likely a mistake (or a decompression bomb) than data.
MAX_DATA_PIXELS = 4096 * 4096


def read_rgb(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Any photo as uint8 H×W×3: EXIF orientation applied; grayscale, palette, RGBA and 16-bit converted.
    ``max_pixels`` refuses larger images (PIL's own decompression-bomb check applies in any case)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise DataError(f"image {path} is an empty file (0 bytes): copy the photo again, or remove it")
        im: Image.Image  # exif_transpose, convert and alpha_composite return plain Images
        with Image.open(path) as im:
            if max_pixels is not None and im.width * im.height > max_pixels:
                raise DataError(
                    f"image {path} is {im.width}x{im.height} pixels, over the limit of {max_pixels:,}; "
                    f"downscale it (the study trains at a few hundred pixels) or remove it."
                )
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grayscale: scale to 8 bits, don't clip
                a = np.asarray(im, dtype=np.float64)
                a = a / 257.0 if a.max() > 255 else a
                return np.repeat(np.clip(a, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            if im.mode == "RGBA" or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(f"image {path} is too large to open safely ({e}); downscale it or remove it.") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if getattr(e, "errno", None) == errno.ELOOP:
            raise DataError(f"{path} is a symbolic link that points back at itself: fix the link") from e
        if isinstance(e, FileNotFoundError):
            raise DataError(f"no such file: {path}") from e
        raise DataError(f"cannot read image {path}: {e}") from e


#: A depth image whose farthest point is this close (metres) is not a scene but a unit error (metres as mm).
_SMALLEST_ROOM_M = 0.05


def read_depth_png(path: str | Path, depth_scale: float = 0.001) -> np.ndarray:
    """A uint16 depth PNG as float32 metres (value × depth_scale); 0 stays 0 = invalid."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            a = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot read depth image {path}: {e}") from e
    if a.ndim != 2:
        raise DataError(f"depth image {path} has shape {a.shape}; expected a single-channel uint16 PNG.")
    if a.dtype == np.uint8 or a.dtype == bool:
        raise DataError(
            f"depth image {path} is 8-bit; expected 16-bit depth in units of {depth_scale} m "
            f"(uint16 millimetres), which 8 bits cannot hold (it would read as 0 to "
            f"{255 * depth_scale:.3f} m). Save the depth as a 16-bit PNG."
        )
    if not np.issubdtype(a.dtype, np.integer):
        raise DataError(
            f"depth image {path} holds {a.dtype} values; expected integer depth in units of {depth_scale} m "
            "(a uint16 PNG in millimetres). Convert it: round(depth_in_metres × 1000) as uint16."
        )
    valid = a[a > 0]
    if valid.size and valid.max() * depth_scale <= _SMALLEST_ROOM_M:
        raise DataError(
            f"depth image {path}: its largest value is {int(valid.max())}, i.e. {valid.max() * depth_scale:.3f} m "
            f"in units of {depth_scale} m; this looks like depth stored in metres, not millimetres. Save "
            "round(depth_in_metres × 1000) as uint16."
        )
    return sanitize_depth(a.astype(np.float32) * np.float32(depth_scale))


def list_rgbd_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """Sorted (rgb, depth) path pairs of a folder; raises DataError listing the first unmatched files."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"RGB-D folder not found: {root}. {GET_DATA_HINT}")
    rgb_dir, depth_dir = root / "rgb", root / "depth"
    for d in (rgb_dir, depth_dir):
        if not d.is_dir():
            raise DataError(f"{root} must hold rgb/ and depth/ subfolders; {d} is missing.")
    rgb_files = [p for p in sorted(rgb_dir.iterdir()) if p.suffix.lower() in RGB_SUFFIXES]
    stems = [p.stem for p in rgb_files]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        names = [p.name for p in rgb_files if p.stem in twice[:3]]
        raise DataError(f"{rgb_dir}: two images for one index: {names}; keep one file per index.")
    rgb = {p.stem: p for p in rgb_files}
    depth = {p.stem: p for p in sorted(depth_dir.iterdir()) if p.suffix.lower() == ".png"}
    only_rgb, only_depth = sorted(set(rgb) - set(depth)), sorted(set(depth) - set(rgb))
    if only_rgb or only_depth:
        raise DataError(
            f"{root}: {len(rgb)} RGB and {len(depth)} depth files do not pair up. "
            f"RGB without depth: {[rgb[s].name for s in only_rgb[:5]]}; "
            f"depth without RGB: {[depth[s].name for s in only_depth[:5]]}."
        )
    if not rgb:
        raise DataError(f"{root}: no rgb/*.jpg|png + depth/*.png pairs found. {GET_DATA_HINT}")
    return [(rgb[s], depth[s]) for s in sorted(rgb)]


def read_rgbd_folder(
    root: str | Path, indices: Sequence[int] | np.ndarray | None = None, depth_scale: float = 0.001
) -> tuple[np.ndarray, np.ndarray]:
    """Read a folder of RGB-D pairs; returns uint8 N×H×W×3 and float32 N×H×W metres (0 = invalid).

    ``indices`` are 0-based positions in the name-sorted pair list; for NYU's ``0001 … 1449`` files, index
    ``i`` is file ``i + 1``, the 1-based NYU index. All pairs must share one size.
    """
    pairs = list_rgbd_pairs(root)
    idx = np.arange(len(pairs)) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= len(pairs)):
        raise IndexError(f"{root} holds {len(pairs)} pairs; indices must be in [0, {len(pairs) - 1}]")
    rgbs: list[np.ndarray] = []
    depths: list[np.ndarray] = []
    bad: list[str] = []
    for i in idx:
        rp, dp = pairs[int(i)]
        r, d = read_rgb(rp, max_pixels=MAX_DATA_PIXELS), read_depth_png(dp, depth_scale)
        if r.shape[:2] != d.shape:
            bad.append(f"{rp.name} {r.shape[1]}x{r.shape[0]} vs {dp.name} {d.shape[1]}x{d.shape[0]}")
        elif rgbs and r.shape != rgbs[0].shape:
            bad.append(
                f"{rp.name} is {r.shape[1]}x{r.shape[0]}, the first pair is {rgbs[0].shape[1]}x{rgbs[0].shape[0]}"
            )
        if len(bad) >= 5:
            break
        rgbs.append(r)
        depths.append(d)
    if bad:
        raise DataError(f"{root}: RGB and depth sizes do not match; first offending files: {bad}")
    if not rgbs:
        h = w = 0
        return np.empty((0, h, w, 3), np.uint8), np.empty((0, h, w), np.float32)
    return np.stack(rgbs), np.stack(depths)
