"""Data layer: readers for NYU's .mat and RGB-D folders, splits, synthetic rooms, download, augmentation."""

from .dataset import DATA_ENV, SYNTHETIC, DepthData, load_data, load_dataset, resolve_data, synthetic_path
from .download import NYU_FILES, download_file, download_nyu
from .folder import list_rgbd_pairs, read_depth_png, read_rgb, read_rgbd_folder
from .nyu import (
    DataError,
    official_split,
    read_nyu_mat,
    read_nyu_scene_types,
    report_split,
    sanitize_depth,
    validation_split,
)
from .synthetic import NYU_INTRINSICS, render_scene, write_synthetic_mat
from .transforms import AugmentParams, augment_batch, cut_depth, resize_batch, to_float_rgb

__all__ = [
    "DATA_ENV",
    "SYNTHETIC",
    "DepthData",
    "load_dataset",
    "load_data",
    "resolve_data",
    "synthetic_path",
    "NYU_FILES",
    "download_file",
    "download_nyu",
    "list_rgbd_pairs",
    "read_depth_png",
    "read_rgb",
    "read_rgbd_folder",
    "DataError",
    "official_split",
    "read_nyu_mat",
    "read_nyu_scene_types",
    "report_split",
    "sanitize_depth",
    "validation_split",
    "NYU_INTRINSICS",
    "render_scene",
    "write_synthetic_mat",
    "AugmentParams",
    "augment_batch",
    "cut_depth",
    "resize_batch",
    "to_float_rgb",
]
