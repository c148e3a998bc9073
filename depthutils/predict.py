"""Run a trained model on any photos: 16-bit depth PNG (mm), .npy (metres), colour map with bar, optional PLY."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._io import atomic_path, sha256_file
from .data.folder import RGB_SUFFIXES, read_rgb
from .data.synthetic import NYU_INTRINSICS
from .models.inference import fold_batchnorm

__all__ = [
    "Predictor",
    "load_predictor",
    "predict_image",
    "predict_paths",
    "collect_inputs",
    "write_ply",
    "write_glb_surface",
    "depth_png_mm",
    "camera_intrinsics",
    "back_project",
    "SYNTHETIC_WARNING",
]

SYNTHETIC_WARNING = (
    "this model was trained on synthetic rooms (a smoke or test run): it is NOT meant for real photos; "
    "use the shipped model (no --checkpoint) or one trained on NYU"
)


@dataclass(frozen=True)
class Predictor:
    """A trained model with what it needs to predict: its input size (H, W), ``max_depth`` and a label that
    names where its weights came from (printed, and written beside every output)."""

    model: torch.nn.Module
    image_size: tuple[int, int]
    max_depth: float
    label: str
    source: dict
    backend: str = "torch"  # or "onnxruntime": an exported graph (onnx_backend.OnnxModel)

    @property
    def synthetic(self) -> bool:
        return self.source.get("data_kind") == "synthetic"


def load_predictor(
    checkpoint: str | Path | None = None,
    weights: str | None = None,
    device: torch.device | str = "cpu",
    *,
    fold: bool = True,
    onnx: str | Path | None = None,
) -> Predictor:
    """The model of a run's checkpoint, or shipped ``weights`` (default: the shipped default model), in eval mode
    for inference: with ``fold``, its BatchNorms are folded into their convolutions (the same depth, faster;
    ``models.inference.fold_batchnorm``), so its state dict no longer matches ``build_model``'s and it is not for
    training (``fold=False``, or ``build_model``/``model_from_checkpoint``, give the model as trained).
    ``onnx``: an exported graph of shipped weights (``export --onnx``) run by ONNX Runtime on the CPU instead; its
    metadata must match the shipped weights it names."""
    if sum(x is not None for x in (checkpoint, weights, onnx)) > 1:
        raise ValueError("give one of --checkpoint, --weights and --onnx")
    if onnx is not None:
        return _onnx_predictor(Path(onnx))
    if checkpoint is None:
        from .models import build_model, get_weights

        w = get_weights(weights)
        model = build_model(w.model, weights=w.name).to(device).eval()
        if fold:
            fold_batchnorm(model)  # the same function, faster (models/inference.py)
        src = {"weights": w.name, "sha256": w.meta["sha256"], "model": w.model, "data_kind": "real"}
        return Predictor(model, w.image_size, w.max_depth, f"shipped weights {w.name} ({w.model})", src)
    from .run_folder import load_checkpoint, model_from_checkpoint

    ck = load_checkpoint(checkpoint)
    kind = ck["dataset"].get("kind", "real")
    label = f"checkpoint {checkpoint} ({ck['model_name']}, epoch {ck['epoch']})"
    if kind == "synthetic":
        label += " [synthetic rooms: not meant for real photos]"
    src = {
        "checkpoint": str(checkpoint),
        "sha256": ck.get("state_sha256"),
        "model": ck["model_name"],
        "data_kind": kind,
    }
    cfg = ck["config"]
    model = model_from_checkpoint(ck, device).eval()
    if fold:
        fold_batchnorm(model)
    return Predictor(model, tuple(cfg["image_size"]), float(cfg["max_depth"]), label, src)


def _onnx_predictor(path: Path) -> Predictor:
    from .models import get_weights
    from .onnx_backend import OnnxModel, check_against_weights

    model = OnnxModel(path)
    src = {**check_against_weights(model.meta, path), "onnx": str(path), "onnx_sha256": sha256_file(path)}
    w = get_weights(src["weights"])
    label = f"ONNX Runtime: {path} (shipped weights {w.name}, {w.model})"
    return Predictor(model, w.image_size, w.max_depth, label, src, backend="onnxruntime")


def _is_output(path: Path) -> bool:
    """An output of predict (``X_depth.png`` / ``X_color.png`` beside the ``X_depth.json`` that describes it), not
    a photo that happens to be named so."""
    for suffix in ("_depth.png", "_color.png"):
        if path.name.endswith(suffix) and path.with_name(path.name[: -len(suffix)] + "_depth.json").exists():
            return True
    return False


def collect_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted, non-recursive). Missing paths are kept so
    that they are reported by name later."""
    files: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():  # its photos, not the outputs of an earlier predict into the same folder
            files += sorted(
                q
                for q in p.iterdir()
                if q.suffix.lower() in RGB_SUFFIXES + (".tif", ".tiff", ".bmp", ".webp") and not _is_output(q)
            )
        else:
            files.append(p)
    return files


@torch.no_grad()
def predict_image(
    model: torch.nn.Module,
    rgb: np.ndarray,
    *,
    image_size: tuple[int, int],
    max_depth: float,
    flip_tta: bool = False,
    precision: str = "fp32",
) -> np.ndarray:
    """uint8 H×W×3 → float32 H×W metres: resized to the model's input size, predicted, resized back."""
    from .engine import predict_batch

    p = next(model.parameters(), None)  # an ONNX Runtime model (onnx_backend.OnnxModel) has none: the CPU
    dev = p.device if p is not None else torch.device("cpu")
    h, w = rgb.shape[:2]
    rgb = rgb if rgb.flags.writeable else rgb.copy()  # torch warns on read-only arrays (e.g. PIL's own buffers)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(dev).float() / 255  # 1×3×H×W
    x = F.interpolate(x, size=image_size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    pred = predict_batch(model, x, flip_tta=flip_tta, precision=precision)  # 1×1×h×w normalised
    pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
    return (pred[0, 0].clamp(0, 1) * max_depth).cpu().numpy().astype(np.float32)


def camera_intrinsics(
    width: int, height: int, photo: str | Path | None = None, fx: float | None = None
) -> tuple[tuple[float, float, float, float], str]:
    """(fx, fy, cx, cy) in pixels for an image of width × height, and where they came from:

    ``fx`` given (square pixels, principal point at the centre) → 'given'; else the photo's EXIF 35 mm-equivalent
    focal length (fx = f35 · long side / 36 mm) → 'exif'; else NYU's Kinect intrinsics scaled to the size → 'nyu'.
    """
    if fx is not None:
        return (fx, fx, (width - 1) / 2, (height - 1) / 2), "given"
    if photo is not None:
        try:
            from PIL import Image

            with Image.open(photo) as im:
                f35 = im.getexif().get_ifd(0x8769).get(41989)  # Exif IFD: FocalLengthIn35mmFilm
            if f35:
                f = float(f35) * max(width, height) / 36.0
                return (f, f, (width - 1) / 2, (height - 1) / 2), "exif"
        except (OSError, ValueError, AttributeError):
            pass
    # NYU's Kinect, scaled by one factor (its 640-pixel side onto the photo's longer side) so that a photo of
    # another aspect than 4:3 keeps square pixels; the principal point moves with the photo's centre
    nfx, nfy, ncx, ncy = NYU_INTRINSICS
    s = max(width, height) / 640
    return (nfx * s, nfy * s, (width - 1) / 2 + (ncx - 319.5) * s, (height - 1) / 2 + (ncy - 239.5) * s), "nyu"


def back_project(depth: np.ndarray, intrinsics: tuple[float, float, float, float]) -> np.ndarray:
    """H×W depth (metres) → H×W×3 camera-frame points (x right, y down, z forward), pinhole model."""
    fx, fy, cx, cy = intrinsics
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w]
    return np.stack([(u - cx) * depth / fx, (v - cy) * depth / fy, depth], -1)


def _points(
    rgb: np.ndarray, depth: np.ndarray, intrinsics: tuple[float, float, float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The valid pixels as camera-frame points N×3 (float32) and their colours N×3 (uint8)."""
    h, w = depth.shape
    pts = back_project(depth, intrinsics or camera_intrinsics(w, h)[0]).reshape(-1, 3)
    keep = depth.reshape(-1) > 0
    return pts[keep].astype(np.float32), rgb.reshape(-1, 3)[keep].astype(np.uint8)


def write_ply(
    path: Path, rgb: np.ndarray, depth: np.ndarray, intrinsics: tuple[float, float, float, float] | None = None
) -> None:
    """Coloured point cloud (binary little-endian PLY, for MeshLab or Open3D), back-projected with ``intrinsics``
    (default: NYU's scaled to the image size). Binary: a 640×480 cloud writes in milliseconds, not seconds."""
    pts, cols = _points(rgb, depth, intrinsics)
    vertex = np.empty(len(pts), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    vertex["x"], vertex["y"], vertex["z"] = pts.T
    vertex["r"], vertex["g"], vertex["b"] = cols.T
    header = (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {len(pts)}\nproperty float x\nproperty float y\n"
        "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    with atomic_path(path, ".ply") as tmp, open(tmp, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vertex.tobytes())


def write_glb_surface(
    path: Path,
    rgb: np.ndarray,
    depth: np.ndarray,
    intrinsics: tuple[float, float, float, float] | None = None,
    max_vertices: int = 60_000,
    max_step: float = 0.08,
) -> None:
    """The depth as a coloured 3D surface in a glTF 2.0 binary (.glb), for web viewers (Gradio's Model3D): the
    back-projected pixels on a grid subsampled to ``max_vertices``, two triangles per grid cell, no triangle across
    a depth jump of more than ``max_step`` (relative), vertex colours from the photo, unlit and double-sided. Axes
    as glTF wants them: y up, the camera looking down −z. A surface rather than loose points, because browsers'
    WebGL viewers draw points one pixel wide."""
    import json as _json
    import struct

    h, w = depth.shape
    k = max(1, int(np.ceil(np.sqrt(h * w / max_vertices))))
    pts = back_project(depth, intrinsics or camera_intrinsics(w, h)[0])[::k, ::k]  # gh×gw×3
    z, cols = depth[::k, ::k], rgb[::k, ::k]
    gh, gw = z.shape
    idx = np.arange(gh * gw).reshape(gh, gw)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]  # the corners of every grid cell
    zf = z.reshape(-1)
    kept: list[np.ndarray] = []  # each triangle set's faces without a missing or occluding corner
    for tri in (np.stack([a, c, b], -1), np.stack([b, c, d], -1)):
        t = tri.reshape(-1, 3)
        zt = zf[t]
        ok = (zt.min(1) > 0) & (zt.max(1) <= zt.min(1) * (1 + max_step))
        kept.append(t[ok])
    faces = np.concatenate(kept).astype("<u4")
    pos = (pts.reshape(-1, 3) * np.array([1, -1, -1])).astype("<f4")
    col = cols.reshape(-1, 3).astype(np.uint8)
    chunks = [pos.tobytes(), col.tobytes(), faces.tobytes()]
    views, blob = [], b""
    for i, chunk in enumerate(chunks):
        blob += b"\0" * ((-len(blob)) % 4)
        views.append(
            {"buffer": 0, "byteOffset": len(blob), "byteLength": len(chunk), "target": 34963 if i == 2 else 34962}
        )
        blob += chunk
    blob += b"\0" * ((-len(blob)) % 4)
    gltf = {
        "asset": {"version": "2.0", "generator": "depthutils"},
        "extensionsUsed": ["KHR_materials_unlit"],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "materials": [
            {
                "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0, "roughnessFactor": 1},
                "doubleSided": True,
                "extensions": {"KHR_materials_unlit": {}},
            }
        ],
        "meshes": [
            {"primitives": [{"attributes": {"POSITION": 0, "COLOR_0": 1}, "indices": 2, "material": 0, "mode": 4}]}
        ],
        "buffers": [{"byteLength": len(blob)}],
        "bufferViews": views,
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,  # float32
                "count": len(pos),
                "type": "VEC3",
                "min": pos.min(0).tolist(),
                "max": pos.max(0).tolist(),
            },
            {"bufferView": 1, "componentType": 5121, "normalized": True, "count": len(col), "type": "VEC3"},
            {"bufferView": 2, "componentType": 5125, "count": int(faces.size), "type": "SCALAR"},  # uint32
        ],
    }
    js = _json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * ((-len(js)) % 4)
    body = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(blob), 0x004E4942) + blob
    with atomic_path(path, ".glb") as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body)


_OUTPUTS = ("_depth.png", "_depth.npy", "_color.png", "_depth.json")


def depth_png_mm(depth: np.ndarray) -> np.ndarray:
    """H×W metres → uint16 millimetres, this project's depth format, where 0 means invalid: a valid (> 0) depth
    is written as at least 1 mm, never 0; 65.535 m is the largest."""
    valid = np.isfinite(depth) & (depth > 0)
    mm = np.clip(np.round(np.where(valid, depth, 0) * 1000), 1, 65535).astype(np.uint16)
    mm[~valid] = 0
    return mm


def _write_outputs(
    stem: Path,
    rgb: np.ndarray,
    depth: np.ndarray,
    ply: bool,
    intrinsics: tuple[float, float, float, float],
    record: dict,
) -> list[Path]:
    from PIL import Image, PngImagePlugin

    from .plots import close, depth_beside_input, save

    paths = [stem.with_name(stem.name + s) for s in _OUTPUTS]
    info = PngImagePlugin.PngInfo()
    info.add_text("depthutils", json.dumps({"units": "mm, 0 = invalid", **record}))
    with atomic_path(paths[0], ".png") as tmp:
        Image.fromarray(depth_png_mm(depth)).save(tmp, format="PNG", pnginfo=info)
    with atomic_path(paths[1], ".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, depth)
    fig = depth_beside_input(rgb, depth, title=record["model"])
    save(fig, paths[2])
    close(fig)
    with atomic_path(paths[3], ".json") as tmp:
        tmp.write_text(json.dumps({**record, "intrinsics_fx_fy_cx_cy": list(intrinsics)}, indent=2) + "\n")
    if ply:
        paths.append(stem.with_name(stem.name + ".ply"))
        write_ply(paths[-1], rgb, depth, intrinsics)
    return paths


def _already_done(
    targets: list[Path], photo_sha256: str | None, predictor: Predictor, flip_tta: bool, fx: float | None
) -> bool:
    """The record beside the outputs (``_depth.json``) says they come from this photo (the same bytes), these
    weights (and ONNX graph), backend and settings: writing them again would change nothing."""
    record = next(t for t in targets if t.name.endswith("_depth.json"))
    if not record.exists() or photo_sha256 is None or predictor.source.get("sha256") is None:
        return False
    try:
        rec = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (
        rec.get("input_sha256") == photo_sha256
        and rec.get("source_sha256") == predictor.source["sha256"]
        and rec.get("source_onnx_sha256") == predictor.source.get("onnx_sha256")
        and rec.get("backend", "torch") == predictor.backend
        and rec.get("flip_tta") == flip_tta
        and rec.get("fx_given") == fx
    )


def _unique_stems(files: list[Path]) -> list[str]:
    """An output name per input, never shared: a.jpg and a.png become a_jpg and a_png; rgb.png from several
    folders become <folder>_rgb."""
    stems: list[str] = []
    for p in files:
        clash = sum(q.stem == p.stem for q in files) > 1
        same_suffix = sum(q.stem == p.stem and q.suffix.lower() == p.suffix.lower() for q in files) > 1
        stem = p.stem
        if clash:
            stem = f"{p.parent.name}_{p.stem}" if same_suffix else f"{p.stem}_{p.suffix.lower().lstrip('.')}"
        base, k = stem, 2
        while stem in stems:
            stem, k = f"{base}_{k}", k + 1
        stems.append(stem)
    return stems


def predict_paths(
    predictor: Predictor,
    inputs: list[str | Path],
    out_dir: str | Path,
    *,
    ply: bool = False,
    flip_tta: bool = True,
    overwrite: bool = False,
    fx: float | None = None,
    progress: bool = True,
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Predict every input; returns (written files, [(failed input, reason)]). A failure never stops the rest.

    Every input gets its own output names, and a ``_depth.json`` that names the weights, the input and the
    settings (the 16-bit PNG carries the same record). Outputs that already exist are not replaced unless
    ``overwrite``. The point cloud uses ``fx`` (pixels) when given, else the photo's EXIF focal length, else NYU's
    intrinsics. Flip TTA is on by default, as in the standard protocol and notebook 09.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir} is a file; give a folder for the outputs")
    files = collect_inputs(inputs)
    if not files:
        raise FileNotFoundError(
            f"no photos in {', '.join(map(str, inputs))}: give image files ({', '.join(RGB_SUFFIXES)}, .tif, .bmp, "
            ".webp) or folders that hold them"
        )
    if predictor.synthetic:
        print(f"WARNING: {SYNTHETIC_WARNING}", file=sys.stderr)
    written, failed, kept = [], [], 0
    for p, stem in zip(files, _unique_stems(files)):
        try:
            targets = [out_dir / (stem + s) for s in _OUTPUTS + ((".ply",) if ply else ())]
            photo_sha256 = sha256_file(p) if p.is_file() else None  # once: the check and the record use it
            same = not overwrite and _already_done(targets, photo_sha256, predictor, flip_tta, fx)
            if same and all(t.exists() for t in targets):
                print(f"{p}: {out_dir / stem}_depth.* already there (same photo, weights and settings): kept")
                kept += 1
                continue
            exists = [t.name for t in targets if t.exists()]
            if exists and not overwrite and not same:  # same record, a file more asked (--ply): written anew
                raise FileExistsError(
                    f"{out_dir} already holds {', '.join(exists)} from another photo, model or settings; use "
                    "--overwrite or another --out"
                )
            rgb = read_rgb(p)  # names a missing file, an empty one, a symbolic-link loop
            depth = predict_image(
                predictor.model,
                rgb,
                image_size=predictor.image_size,
                max_depth=predictor.max_depth,
                flip_tta=flip_tta,
            )
            intr, intr_src = camera_intrinsics(rgb.shape[1], rgb.shape[0], p, fx)
            record = {
                "input": str(p),
                "input_sha256": photo_sha256,
                "fx_given": fx,
                "model": predictor.label,
                **{f"source_{k}": v for k, v in predictor.source.items()},
                "backend": predictor.backend,
                "flip_tta": flip_tta,
                "intrinsics_from": intr_src,
            }
            written += _write_outputs(out_dir / stem, rgb, depth, ply, intr, record)
            if progress:
                print(f"{p} → {out_dir / stem}_depth.png ({rgb.shape[1]}x{rgb.shape[0]})", file=sys.stderr)
        except Exception as e:  # noqa: BLE001 — report by name and go on with the rest
            failed.append((p, f"{type(e).__name__}: {e}"))
            print(f"FAILED {p}: {e}", file=sys.stderr)
    if kept:
        print(f"kept the outputs of {kept} photo(s) already in {out_dir} (same photo, weights and settings)")
    return written, failed
