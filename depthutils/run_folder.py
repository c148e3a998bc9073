"""A run folder and everything in it: the checkpoint format, history, config and results files, and its lock.

Layout of ``OUT/``::

    config.json    what the run is (settings, data identity, versions, commit, device, precision)
    history.csv    one row per epoch (rewritten from the checkpoint's own history, so the two always agree)
    last.pt        the latest completed epoch (model, optimizer, history, RNG-free: every epoch reseeds)
    best.pt        the epoch with the lowest validation L1 (never chosen on test images); weights only
    results.json   the final evaluation of the last epoch under both protocols, with intervals
    .lock          the PID of the process writing here

Every file is written atomically (temp file + rename), so a kill leaves the previous version, never half a
file. A checkpoint is a dict of plain types and tensors that loads with ``torch.load(weights_only=True)``; it
stores a SHA-256 of its weights, checked on load.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict, cast

import torch

from ._io import atomic_path, write_json_atomic, write_text_atomic
from .models import DepthModel, build_model

__all__ = [
    "Results",
    "Checkpoint",
    "RunFolder",
    "CheckpointError",
    "RunLockedError",
    "CHECKPOINT_FORMAT",
    "HISTORY_KEYS",
    "load_checkpoint",
    "model_from_checkpoint",
    "state_sha256",
    "read_history",
]

#: v3: the checksum covers every entry (config, history, epoch, …), not only the weights and optimiser state (v2).
CHECKPOINT_FORMAT = "depthutils-checkpoint-v3"
_READABLE_FORMATS = ("depthutils-checkpoint-v1", "depthutils-checkpoint-v2", CHECKPOINT_FORMAT)

#: Columns of history.csv. Validation and test columns are empty on epochs that were not evaluated.
HISTORY_KEYS = (
    "epoch",
    "train_loss",
    "lr",
    "epoch_time_s",
    "images_per_s",
    "val_l1",
    "val_delta1",
    "val_abs_rel",
    "test_loss",
    "test_l1",
    "test_mse",
    "test_delta1",
    "test_abs_rel",
    "test_rmse",
)


class _RunRecord(TypedDict):
    """What a run records of itself, in results.json and in every checkpoint: its model, settings (``config``:
    the run's TrainConfig as a dict), data identity (split, indices, ground truth), where its encoder came from,
    precision, versions, commit and device."""

    model_name: str
    title: str
    model_meta: dict[str, Any]
    config: dict[str, Any]
    dataset: dict[str, Any]
    pretrained: dict[str, Any]
    precision: str
    versions: dict[str, str]
    git_commit: str
    device: str


class Results(_RunRecord):
    """A finished run's ``results.json``: the record every table, figure and comparison reads. ``protocols`` holds
    the test metrics per protocol ('report', 'standard'; the standard one with 95% intervals under ``ci``) and
    ``per_image`` the per-image values the paired comparisons resample."""

    distributed: dict[str, Any]
    epochs: int
    train_time_s: float
    checkpoint: str
    selection: str
    protocols: dict[str, dict[str, Any]]
    per_image: dict[str, dict[str, list[float]]]


class _CheckpointState(TypedDict, total=False):
    """The parts of a checkpoint that not every file has: the optimiser (dropped by best.pt and a finished run's
    last.pt), the checksum and format (v2 files and later), the torchrun record."""

    optimizer_state: dict[str, Any] | None
    state_sha256: str
    format: str
    distributed: dict[str, Any]


class Checkpoint(_RunRecord, _CheckpointState):
    """A checkpoint file (``last.pt``, ``best.pt``): the run's record with the weights, the epoch it completed and
    the history up to it. Plain types and tensors only, so it loads with ``torch.load(weights_only=True)``."""

    model_state: dict[str, Any]
    epoch: int
    history: list[dict[str, Any]]
    best_val_l1: float
    train_time_s: float


class CheckpointError(RuntimeError):
    """A checkpoint is corrupt, not ours, or for another architecture."""


class RunLockedError(RuntimeError):
    """Another live process is writing into the same run folder."""


def state_sha256(obj: Any) -> str:
    """SHA-256 over every tensor in a nested dict/list (names, dtypes, shapes and bytes, in key order) and the
    repr of every other leaf: the model's weights and the optimiser's state of a checkpoint."""
    h = hashlib.sha256()

    def walk(o: Any, key: str) -> None:
        if isinstance(o, dict):
            for k in sorted(o, key=str):
                walk(o[k], f"{key}/{k}")
        elif isinstance(o, (list, tuple)):
            for i, v in enumerate(o):
                walk(v, f"{key}/{i}")
        elif isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous()
            h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(f"{key}|{o!r}|".encode())

    walk(obj, "")
    return h.hexdigest()


def _checksum(ck: dict) -> str:
    """v3: over everything that resume and evaluation read (all but the checksum itself); older formats: over the
    weights and optimiser state, as they were written."""
    if ck.get("format") == CHECKPOINT_FORMAT:
        return state_sha256({k: v for k, v in ck.items() if k != "state_sha256"})
    return state_sha256({"model_state": ck["model_state"], "optimizer_state": ck.get("optimizer_state")})


def load_checkpoint(path: str | Path, *, expect_model: str | None = None, map_location: Any = "cpu") -> Checkpoint:
    """Load a checkpoint with ``weights_only=True`` (a file from elsewhere cannot run code) and check its weights
    against the stored SHA-256."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle with disallowed globals, random bytes…
        raise CheckpointError(f"{path} is corrupt or not a depthutils checkpoint ({type(e).__name__}: {e}).") from e
    if not isinstance(ck, dict) or ck.get("format") not in _READABLE_FORMATS:
        raise CheckpointError(f"{path} is not a depthutils checkpoint (no '{CHECKPOINT_FORMAT}' marker).")
    if "state_sha256" in ck and _checksum(ck) != ck["state_sha256"]:
        raise CheckpointError(
            f"{path}: its contents (weights, optimiser state, settings or history) do not match the checksum stored "
            f"with them; the file is damaged."
        )
    if expect_model is not None and ck["model_name"] != expect_model:
        raise CheckpointError(
            f"{path} holds a {ck['model_name']!r} model, not {expect_model!r}. Use --model "
            f"{ck['model_name']} or a different --out folder."
        )
    return cast(Checkpoint, ck)


def model_from_checkpoint(ck: Checkpoint | dict[str, Any], device: torch.device | str = "cpu") -> DepthModel:
    """Rebuild the model of a checkpoint (never touching the network) and load its weights; eval mode."""
    model = build_model(ck["model_name"], pretrained=False, head=ck["config"].get("head", "relu"))
    try:
        model.load_state_dict(ck["model_state"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint weights do not fit {ck['model_name']!r}: {e}") from e
    model.encoder.pretrained_used = ck["pretrained"]["used"]
    model.encoder.pretrained_source = ck["pretrained"].get("source")
    return model.to(device).eval()


def _history_csv(history: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(HISTORY_KEYS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def read_history(path: str | Path) -> list[dict[str, float | None]]:
    """history.csv as rows of floats (None where a column is empty: an epoch that was not evaluated)."""
    with open(path) as f:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()} for row in csv.DictReader(f)]


class RunFolder:
    """The files of one training run (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.last, self.best = self.path / "last.pt", self.path / "best.pt"
        self.config, self.history = self.path / "config.json", self.path / "history.csv"
        self.results, self.lock_file = self.path / "results.json", self.path / ".lock"

    def holds_progress(self) -> bool:
        """True when the folder records completed epochs or results (something a fresh run would destroy)."""
        if self.last.exists() or self.best.exists() or self.results.exists():
            return True
        return self.history.exists() and len(self.history.read_text().splitlines()) > 1

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for this process: a second writer refuses; a lock whose PID is dead is taken over."""
        self.path.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                try:
                    pid = int(self.lock_file.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise RunLockedError(
                        f"{self.path} is being written by process {pid}; wait for it to finish, "
                        f"stop it, or train into another --out."
                    ) from None
                self.lock_file.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            break
        try:
            yield
        finally:
            self.lock_file.unlink(missing_ok=True)

    def remove_stale_temp(self) -> list[Path]:
        """Delete temp files that a killed writer left (``.<name>.*.tmp``); call while holding the lock."""
        stale = [p for p in self.path.glob(".*.tmp") if p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def save_checkpoint(self, path: Path, payload: dict[str, Any]) -> None:
        payload = {**payload, "format": CHECKPOINT_FORMAT}
        payload["state_sha256"] = _checksum(payload)
        with atomic_path(path, ".pt") as tmp:
            try:
                torch.save(payload, tmp)
            except RuntimeError as e:  # torch's zip writer reports a failed write (a full disk) as a RuntimeError
                if "write" not in str(e).lower():
                    raise
                full = shutil.disk_usage(path.parent).free < 64 * 2**20
                raise OSError(errno.ENOSPC if full else errno.EIO, f"writing failed ({e})", str(path)) from None

    def write_history(self, history: list[dict[str, Any]]) -> None:
        write_text_atomic(self.history, _history_csv(history))

    def write_config(self, record: dict[str, Any]) -> None:
        write_json_atomic(self.config, record)

    def write_results(self, results: Results) -> None:
        write_json_atomic(self.results, results)

    def read_results(self) -> Results | None:
        return cast("Results | None", _read_json(self.results))  # written by write_results

    def read_config(self) -> dict[str, Any] | None:
        return _read_json(self.config)


def _read_json(path: Path) -> dict[str, Any] | None:
    """A run folder's JSON, or None when absent; a garbled file is an error that names it."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(
            f"{path} is not valid JSON ({e}); restore it from a copy, or train into another --out (the run's "
            "checkpoints hold its settings and history too)."
        ) from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
