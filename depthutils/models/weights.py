"""Shipped weights, in the shape of torchvision's weights API: a name → a verified file, its meta and the
preprocessing it expects.

Each shipped model is a folder ``depthutils/weights/<name>/`` that can be published to the Hugging Face Hub as
it is: ``model.safetensors`` (fp16), ``meta.json`` (what the loader reads: architecture, input size, SHA-256,
metrics, recipe) and ``README.md`` (the model card, generated from ``meta.json`` by :mod:`depthutils.release`).
Loading never unpickles: safetensors and JSON only, and the file's SHA-256 is checked against ``meta.json``
before a byte of it is used.

    from depthutils.models import build_model, get_weights
    w = get_weights("nyu-regnet-unet")
    model = build_model(w.model, weights=w.name)      # fp32 on the CPU, eval mode
    w.meta["metrics"]["standard"]["delta1"], w.image_size
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._io import sha256_file

__all__ = [
    "Weights",
    "WeightsError",
    "WEIGHTS_ROOT",
    "DEFAULT_WEIGHTS",
    "get_weights",
    "list_weights",
    "load_weights_folder",
    "check_name",
    "meta_checksum",
]

#: Where the shipped weights live (inside the package, so that an installed copy finds them too).
WEIGHTS_ROOT = Path(__file__).resolve().parents[1] / "weights"
#: The model that ``predict``, ``evaluate --weights``, notebook 09 and the demo use when none is named.
DEFAULT_WEIGHTS = "nyu-lite2-unet"
_FILE = "model.safetensors"
_META = "meta.json"
#: A weights name: letters, digits, '.', '_' and '-', starting with a letter or digit (so never '..' or a path).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class WeightsError(RuntimeError):
    """Shipped weights are missing, damaged (checksum) or do not fit the architecture asked for."""


@dataclass(frozen=True)
class Weights:
    """One shipped model: ``name``, its ``folder`` and ``meta`` (the parsed ``meta.json``)."""

    name: str
    folder: Path
    meta: dict[str, Any]

    @property
    def shipped(self) -> bool:
        """True for a folder of the package's weights root (what ``get_weights`` returns)."""
        return self.folder.parent.resolve() == WEIGHTS_ROOT.resolve()

    @property
    def file(self) -> Path:
        return self.folder / _FILE

    @property
    def model(self) -> str:
        """The registry name of the architecture."""
        return self.meta["model"]

    @property
    def image_size(self) -> tuple[int, int]:
        """The model input (H, W) that the weights were trained at: photos are resized to it."""
        return tuple(self.meta["preprocessing"]["image_size_hw"])

    @property
    def max_depth(self) -> float:
        return float(self.meta["preprocessing"]["max_depth_m"])

    @property
    def head(self) -> str:
        return self.meta["recipe"].get("head", "relu")

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights as fp32 tensors, after checking the file's SHA-256 against ``meta.json``."""
        from safetensors.torch import load_file

        if not self.file.exists():
            raise WeightsError(f"{self.file} is missing: the shipped weights '{self.name}' come with the repository")
        actual = sha256_file(self.file)
        if actual != self.meta["sha256"]:
            raise WeightsError(
                f"{self.file}: SHA-256 {actual[:16]}… does not match {self.meta['sha256'][:16]}… in "
                f"{self.folder / _META}. The file is damaged or was replaced: restore it with `git checkout -- "
                f"{self.file.name}` in {self.folder} (or re-clone)."
            )
        try:
            state = load_file(str(self.file))
        except Exception as e:  # noqa: BLE001 — safetensors' own errors (a header too large, a bad offset…)
            raise WeightsError(
                f"{self.file} is not a readable safetensors file ({type(e).__name__}: {e}); restore it with "
                f"`git checkout -- {self.file.name}` in {self.folder} (or export the run again)"
            ) from None
        return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def meta_checksum(meta: dict[str, Any]) -> str:
    """The SHA-256 of ``meta.json``'s content without its own ``meta_sha256`` (canonical JSON: sorted keys, no
    spaces). It covers every setting that changes an output (input size, ``max_depth_m``, the head, the
    architecture) and the metrics that ``models`` and the cards show."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _read(folder: Path) -> Weights:
    try:
        meta = json.loads((folder / _META).read_text())
        checksum = meta_checksum(meta)  # a NaN, a lone surrogate or a non-object fails here, as an edit
    except (OSError, ValueError, AttributeError) as e:
        raise WeightsError(
            f"{folder / _META} cannot be read ({e}); restore it: git checkout -- {folder / _META}"
        ) from None
    if meta.get("meta_sha256") != checksum:
        what = "has no meta_sha256" if "meta_sha256" not in meta else "was edited: its content no longer matches"
        raise WeightsError(
            f"{folder / _META} {what} its checksum (meta_sha256), and its settings change every depth it gives. "
            f"Restore it: git checkout -- {folder / _META} (or export the run again)"
        )
    return Weights(folder.name, folder, meta)


def check_name(name: str) -> str:
    """``name`` if it is a plain weights name (a folder directly in the weights root), else a clear error."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise WeightsError(
            f"{name!r} is not a weights name: use letters, digits, '.', '_' and '-' only (no path). Shipped weights "
            "are named (python -m depthutils models); your own exported folder loads with load_weights_folder(PATH)"
        )
    return name


def list_weights(root: Path | None = None) -> list[str]:
    """The names of the shipped weights, sorted."""
    root = root or WEIGHTS_ROOT
    return (
        sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / _META).exists())
        if root.exists()
        else []
    )


def get_weights(name: str | None = None, root: Path | None = None) -> Weights:
    """The shipped weights called ``name`` (default: :data:`DEFAULT_WEIGHTS`); an unknown name lists the valid."""
    name = check_name(name or DEFAULT_WEIGHTS)
    folder = (root or WEIGHTS_ROOT) / name
    if folder.is_symlink():
        raise WeightsError(f"{folder} is a symbolic link: shipped weights are real folders in {folder.parent}")
    if not (folder / _META).exists():
        valid = ", ".join(list_weights(root)) or "none"
        raise WeightsError(f"no shipped weights called {name!r}; valid: {valid}")
    return _read(folder)


def load_weights_folder(path: str | Path) -> Weights:
    """Your own exported weights from anywhere (a folder as ``export`` writes it: model.safetensors, meta.json,
    README.md), checked as shipped weights are; ``build_model(w.model, weights=w)`` loads them. Models built from
    them are labelled with the folder, never as shipped weights."""
    folder = Path(path)
    if not (folder / _META).is_file():
        raise WeightsError(f"{folder} holds no {_META}: give a folder that export wrote")
    return _read(folder)
