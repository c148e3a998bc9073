"""Procedural indoor rooms with exact depth, written in the official NYU ``.mat`` (HDF5) layout.

Each scene is ray-cast, not rasterised: a pinhole camera with NYU's RGB intrinsics stands inside a box-shaped
room (floor, four walls, ceiling) holding 3–9 box-shaped pieces of furniture. Depth is the exact camera-z
distance to the first surface hit, so occlusion is exact. Colour comes from textures whose world-space period is
fixed (floor planks, wallpaper stripes, ceiling tiles, checkered furniture), so their image-space frequency
falls with distance (texture gradient), plus Lambertian shading from a point light under the ceiling with
distance fall-off and per-face normals (shading). Every scene is drawn from ``np.random.default_rng([seed, i])``,
so scene ``i`` is the same whatever the count, worker count or machine.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .nyu import NYU_N

__all__ = ["NYU_INTRINSICS", "render_scene", "write_synthetic_mat", "DEFAULT_SYNTH_SIZE"]

#: NYU-Depth V2 RGB camera at 640×480: fx, fy, cx, cy (from the toolbox's camera_params.m).
NYU_INTRINSICS = (518.8579, 519.4696, 325.5824, 253.7362)
#: Default render size (H, W) of ``python -m depthutils synth``: NYU's frame.
DEFAULT_SYNTH_SIZE = (480, 640)
_GENERATOR_VERSION = 1


def _rot(yaw: float, pitch: float) -> np.ndarray:
    """Camera-to-world rotation; camera axes x right, y up, z forward; pitch > 0 looks down."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return (r_yaw @ r_pitch).astype(np.float32)


def _pattern(a: np.ndarray, b: np.ndarray, kind: int, period: float) -> np.ndarray:
    """Albedo modulation in [0, 1] from in-plane world coordinates (a, b) in metres."""
    ia, ib = np.floor(a / period), np.floor(b / period)
    if kind == 0:  # checker
        return ((ia + ib) % 2).astype(np.float32)
    if kind == 1:  # stripes along a
        return (ia % 2).astype(np.float32)
    # planks/tiles: thin dark grout lines plus a per-plank tone
    fa = a / period - ia
    tone = (np.sin(ia * 12.9898 + np.floor(b / (4 * period)) * 78.233) * 43758.5453) % 1.0
    return np.where(fa < 0.06, 1.0, 0.5 * tone).astype(np.float32)


def _room_and_camera(rng: np.random.Generator) -> tuple:
    """A room (W, H, D metres, its corners) and a camera in it: position, and a rotation looking roughly towards
    the room centre (more floor and furniture in view), tilted down by up to 25°."""
    room = np.array([rng.uniform(3.0, 7.0), rng.uniform(2.4, 3.2), rng.uniform(3.0, 8.0)], np.float32)  # W, H, D
    lo_room, hi_room = np.array([-room[0] / 2, 0, -room[2] / 2]), np.array([room[0] / 2, room[1], room[2] / 2])
    cam = np.array(
        [rng.uniform(-0.4, 0.4) * room[0], rng.uniform(1.0, 1.7), rng.uniform(-0.4, 0.4) * room[2]], np.float32
    )
    to_centre = np.arctan2(-cam[0], -cam[2]) if np.hypot(cam[0], cam[2]) > 0.2 else rng.uniform(0, 2 * np.pi)
    R = _rot(to_centre + np.deg2rad(rng.uniform(-50, 50)), np.deg2rad(rng.uniform(-5, 25)))
    return room, lo_room, hi_room, cam, R


def _furniture(rng: np.random.Generator, cam: np.ndarray, lo_room: np.ndarray, hi_room: np.ndarray) -> list:
    """Boxes standing on the floor as (lo, hi) corners, never containing the camera (0.4 m clearance)."""
    boxes = []
    for _ in range(rng.integers(3, 10)):
        for _try in range(10):
            size = rng.uniform([0.4, 0.3, 0.4], [1.8, 1.6, 1.2]).astype(np.float32)
            c = rng.uniform(lo_room[[0, 2]] + size[[0, 2]] / 2, hi_room[[0, 2]] - size[[0, 2]] / 2)
            lo = np.array([c[0] - size[0] / 2, 0.0, c[1] - size[2] / 2], np.float32)
            hi = np.array([c[0] + size[0] / 2, size[1], c[1] + size[2] / 2], np.float32)
            if not (np.all(cam[[0, 2]] > lo[[0, 2]] - 0.4) and np.all(cam[[0, 2]] < hi[[0, 2]] + 0.4)):
                boxes.append((lo, hi))
                break
    return boxes


def _cast(dirs: np.ndarray, cam: np.ndarray, lo_room: np.ndarray, hi_room: np.ndarray, boxes: list) -> tuple:
    """Each ray's first hit: (t, the axis of the face hit, the surface id: 0 floor, 1 ceiling, 2 wall, 3+k box k).
    dirs: (N, 3) world directions with no zero component."""
    inv = 1.0 / dirs
    # Room interior: exit distance along each axis; the nearest wall is hit.
    t_axes = np.where(dirs > 0, (hi_room - cam) * inv, (lo_room - cam) * inv)
    axis = np.argmin(t_axes, axis=1)
    t = np.take_along_axis(t_axes, axis[:, None], 1)[:, 0]
    surf = np.where(axis == 1, np.where(dirs[:, 1] < 0, 0, 1), 2)
    for k, (lo, hi) in enumerate(boxes):
        t1, t2 = (lo - cam) * inv, (hi - cam) * inv
        tmin_ax = np.minimum(t1, t2)
        tnear, tfar = tmin_ax.max(1), np.maximum(t1, t2).min(1)
        hit = (tfar >= tnear) & (tnear > 0) & (tnear < t)
        t = np.where(hit, tnear, t)
        axis = np.where(hit, tmin_ax.argmax(1), axis)
        surf = np.where(hit, 3 + k, surf)
    return t, axis, surf


def render_scene(seed: int, index: int, width: int = 640, height: int = 480) -> tuple[np.ndarray, np.ndarray]:
    """Render scene ``index`` of ``seed``: uint8 H×W×3 RGB and float32 H×W depth in metres (all valid)."""
    rng = np.random.default_rng([seed, index])
    s = width / 640.0
    fx, fy = NYU_INTRINSICS[0] * s, NYU_INTRINSICS[1] * height / 480.0
    cx, cy = (NYU_INTRINSICS[2] + 0.5) * s - 0.5, (NYU_INTRINSICS[3] + 0.5) * height / 480.0 - 0.5

    room, lo_room, hi_room, cam, R = _room_and_camera(rng)
    boxes = _furniture(rng, cam, lo_room, hi_room)
    # Rays with camera-z = 1, so the hit parameter t *is* the depth.  dirs: (H*W, 3) in world coordinates.
    u, v = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    d_cam = np.stack([(u - cx) / fx, -(v - cy) / fy, np.ones_like(u)], -1).reshape(-1, 3)
    dirs = d_cam @ R.T
    dirs = np.where(np.abs(dirs) < 1e-6, 1e-6, dirs)
    t, axis, surf = _cast(dirs, cam, lo_room, hi_room, boxes)

    p = cam + dirs * t[:, None]
    normal = np.zeros_like(p)
    normal[np.arange(p.shape[0]), axis] = -np.sign(dirs[np.arange(p.shape[0]), axis])
    # In-plane texture coordinates of the face that was hit.
    a = np.where(axis == 0, p[:, 2], p[:, 0])
    b = np.where(axis == 1, p[:, 2], p[:, 1])

    n_surf = 3 + len(boxes)
    base = rng.uniform(0.25, 0.95, (n_surf, 3)).astype(np.float32)
    base[1] = rng.uniform(0.8, 0.95)  # light ceiling
    kinds = np.array([2, 0, 1] + list(rng.integers(0, 3, len(boxes))))
    periods = np.array(
        [rng.uniform(0.12, 0.3), 0.6, rng.uniform(0.08, 0.3)] + list(rng.uniform(0.08, 0.25, len(boxes)))
    )
    contrast = rng.uniform(0.15, 0.45, n_surf).astype(np.float32)
    contrast[2] *= 0.4  # walls: faint wallpaper, so that walls do not dominate the image
    mod = np.zeros_like(t)
    for sid in range(n_surf):
        m = surf == sid
        if m.any():
            mod[m] = _pattern(a[m], b[m], int(kinds[sid]), float(periods[sid]))
    albedo = base[surf] * (1 - contrast[surf] * mod)[:, None]
    albedo[(surf == 2) & (p[:, 1] < 0.1)] *= 0.35  # skirting board: a horizon cue at the wall's foot

    light = np.array([rng.uniform(-0.3, 0.3) * room[0], room[1] - 0.15, rng.uniform(-0.3, 0.3) * room[2]], np.float32)
    to_l = light - p
    dist = np.linalg.norm(to_l, axis=1)
    lambert = np.clip((normal * to_l).sum(1) / np.maximum(dist, 1e-6), 0, 1)
    shade = 0.25 + 0.9 * lambert / (1 + 0.08 * dist**2)
    warm = rng.uniform([0.9, 0.85, 0.75], [1.0, 1.0, 1.0]).astype(np.float32)
    lin = albedo * shade[:, None] * warm
    lin = lin + rng.normal(0, 0.01, lin.shape).astype(np.float32)  # sensor noise
    rgb = (np.clip(lin, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)
    return rgb.reshape(height, width, 3), t.reshape(height, width).astype(np.float32)


def _render_chunk(args: tuple[int, list[int], int, int]) -> tuple[list[int], np.ndarray, np.ndarray]:
    seed, idx, w, h = args
    out = [render_scene(seed, i, w, h) for i in idx]
    return idx, np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def write_synthetic_mat(
    path: str | Path,
    *,
    count: int = NYU_N,
    seed: int = 0,
    size: tuple[int, int] = DEFAULT_SYNTH_SIZE,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Render ``count`` scenes at ``size`` = (H, W) into ``path`` in the official layout, plus ``splits.mat``.

    ``images`` uint8 (N, 3, W, H), ``depths`` float32 (N, W, H) in metres, as h5py sees NYU's file; attributes
    mark the file as synthetic with its seed. A sibling ``splits.mat`` holds a seeded 1-based
    ``trainNdxs``/``testNdxs`` split in NYU's 795/654 proportion. Both files are written atomically.
    """
    import h5py
    from scipy.io import savemat
    from tqdm import tqdm

    path = Path(path)
    h, w = size
    workers = workers or min(2, os.cpu_count() or 1)
    chunk = 16
    jobs = [(seed, list(range(i, min(i + chunk, count))), w, h) for i in range(0, count, chunk)]
    with atomic_path(path, ".mat") as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(synthetic=1, seed=seed, generator_version=_GENERATOR_VERSION, intrinsics_640x480=NYU_INTRINSICS)
        images = f.create_dataset("images", (count, 3, w, h), np.uint8, chunks=(1, 3, w, h))
        depths = f.create_dataset("depths", (count, w, h), np.float32, chunks=(1, w, h))
        bar = tqdm(total=count, desc=f"synth {h}x{w}", unit="scene", disable=not progress)
        pool = ProcessPoolExecutor(workers) if workers > 1 else None
        try:
            results = pool.map(_render_chunk, jobs) if pool else map(_render_chunk, jobs)
            for idx, rgb, depth in results:
                images[idx[0] : idx[-1] + 1] = rgb.transpose(0, 3, 2, 1)
                depths[idx[0] : idx[-1] + 1] = depth.transpose(0, 2, 1)
                bar.update(len(idx))
        finally:
            bar.close()
            if pool:
                pool.shutdown()
        f.close()
    n_test = max(1, round(count * 654 / NYU_N))
    perm = np.random.default_rng([seed, 10**6]).permutation(count)
    with atomic_path(path.with_name("splits.mat"), ".mat") as tmp:
        savemat(
            tmp, {"trainNdxs": np.sort(perm[n_test:])[:, None] + 1, "testNdxs": np.sort(perm[:n_test])[:, None] + 1}
        )
    return path
