"""Run a trained model on any photos: 16-bit depth PNG (mm), .npy (metres), colour map with bar, optional PLY."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._io import atomic_path
from .data.folder import RGB_SUFFIXES, read_rgb
from .data.synthetic import NYU_INTRINSICS

__all__ = ["predict_image", "predict_paths", "collect_inputs", "write_ply"]


def collect_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted, non-recursive). Missing paths are kept so
    that they are reported by name later."""
    files: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.suffix.lower() in RGB_SUFFIXES + (".tif", ".tiff", ".bmp", ".webp"))
        else:
            files.append(p)
    return files


@torch.no_grad()
def predict_image(model: torch.nn.Module, rgb: np.ndarray, *, image_size: tuple[int, int], max_depth: float,
                  flip_tta: bool = False, precision: str = "fp32") -> np.ndarray:
    """uint8 H×W×3 → float32 H×W metres: resized to the model's input size, predicted, resized back."""
    from .engine import predict_batch

    dev = next(model.parameters()).device
    h, w = rgb.shape[:2]
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(dev).float() / 255  # 1×3×H×W
    x = F.interpolate(x, size=image_size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    pred = predict_batch(model, x, flip_tta=flip_tta, precision=precision)  # 1×1×h×w normalised
    pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
    return (pred[0, 0].clamp(0, 1) * max_depth).cpu().numpy().astype(np.float32)


def write_ply(path: Path, rgb: np.ndarray, depth: np.ndarray) -> None:
    """Coloured point cloud (ASCII PLY) back-projected with NYU's intrinsics scaled to the image size."""
    h, w = depth.shape
    fx, fy, cx, cy = NYU_INTRINSICS
    fx, cx, fy, cy = fx * w / 640, cx * w / 640, fy * h / 480, cy * h / 480
    v, u = np.mgrid[0:h, 0:w]
    z = depth
    pts = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], -1).reshape(-1, 3)
    cols = rgb.reshape(-1, 3)
    keep = z.reshape(-1) > 0
    pts, cols = pts[keep], cols[keep]
    header = (f"ply\nformat ascii 1.0\nelement vertex {len(pts)}\nproperty float x\nproperty float y\n"
              f"property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    with atomic_path(path, ".ply") as tmp, open(tmp, "w") as f:
        f.write(header)
        np.savetxt(f, np.concatenate([pts, cols.astype(np.float64)], 1), fmt="%.4f %.4f %.4f %d %d %d")


def _write_outputs(stem: Path, rgb: np.ndarray, depth: np.ndarray, max_depth: float, ply: bool) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    paths = [stem.with_name(stem.name + s) for s in ("_depth.png", "_depth.npy", "_color.png")]
    with atomic_path(paths[0], ".png") as tmp:
        Image.fromarray(np.clip(np.round(depth * 1000), 0, 65535).astype(np.uint16)).save(tmp, format="PNG")
    with atomic_path(paths[1], ".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, depth)
    h, w = depth.shape
    fig, ax = plt.subplots(figsize=(6, 6 * h / w + 0.3), dpi=100)
    im = ax.imshow(depth, cmap="plasma_r", vmin=0, vmax=max(float(depth.max()), 1e-3))
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="depth [m]")
    with atomic_path(paths[2], ".png") as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    if ply:
        paths.append(stem.with_name(stem.name + ".ply"))
        write_ply(paths[-1], rgb, depth)
    return paths


def predict_paths(model: torch.nn.Module, inputs: list[str | Path], out_dir: str | Path, *,
                  image_size: tuple[int, int], max_depth: float, ply: bool = False, flip_tta: bool = False,
                  progress: bool = True) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Predict every input; returns (written files, [(failed input, reason)]). A failure never stops the rest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, failed = [], []
    used: set[str] = set()
    for p in collect_inputs(inputs):
        stem = p.stem if p.stem not in used else f"{p.parent.name}_{p.stem}"  # rgb.png from several folders
        used.add(stem)
        try:
            if not p.exists():
                raise FileNotFoundError(f"no such file: {p}")
            rgb = read_rgb(p)
            depth = predict_image(model, rgb, image_size=image_size, max_depth=max_depth, flip_tta=flip_tta)
            written += _write_outputs(out_dir / stem, rgb, depth, max_depth, ply)
            if progress:
                print(f"{p} → {out_dir / stem}_depth.png ({rgb.shape[1]}x{rgb.shape[0]})", file=sys.stderr)
        except Exception as e:  # noqa: BLE001 — report by name and go on with the rest
            failed.append((p, f"{type(e).__name__}: {e}"))
            print(f"FAILED {p}: {e}", file=sys.stderr)
    return written, failed
