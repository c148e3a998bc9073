"""The training and evaluation engine: ``fit`` (train, checkpoint, resume) and ``evaluate``.

Data flow: DepthData (uint8 RGB + metres) → tensors on the training device, once → per step, a batch is
indexed on the device, augmented there (transforms.augment_batch), normalised by ``max_depth`` and fed to the
model. channels_last everywhere; on CUDA also bf16 autocast, cudnn.benchmark, fused Adam, optional torch.compile,
and no host sync inside the step loop (losses are summed on the device and read once per epoch). On CPU fp32.

Fault tolerance: after every completed epoch ``last.pt`` (and ``best.pt`` when the test L1 improves) is written
atomically, then ``history.csv`` is rewritten from the checkpoint's own history, so the two never disagree. A
run killed at any moment resumes from the last completed epoch. Every epoch draws its shuffling and
augmentation from a generator seeded by (seed, epoch), so a resumed CPU run is bit-identical to an
uninterrupted one.
"""
from __future__ import annotations

import csv
import io
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ._env import device_name, git_commit, resolve_device, versions
from ._io import atomic_path, write_json_atomic, write_text_atomic
from .config import TrainConfig
from .data import DepthData, augment_batch, load_dataset, resize_batch
from .losses import get_loss
from .metrics import MetricAccumulator
from .models import build_model, get_spec

__all__ = ["fit", "evaluate", "predict_batch", "predict_samples", "load_checkpoint", "model_from_checkpoint", "CheckpointError",
           "DeviceData", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "depthutils-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint is corrupt, not ours, or for another architecture."""


class DeviceData:
    """The split's pairs as tensors on the device: RGB uint8 N×3×H×W, depth float32 N×1×H×W metres."""

    def __init__(self, data: DepthData, idx: np.ndarray, device: torch.device):
        self.rgb = torch.from_numpy(np.ascontiguousarray(data.rgb[idx].transpose(0, 3, 1, 2))).to(device)
        self.depth = torch.from_numpy(data.depth[idx][:, None]).to(device)

    def __len__(self) -> int:
        return self.rgb.shape[0]


# --- checkpoints --------------------------------------------------------------------------------------------
def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path, ".pt") as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, *, expect_model: str | None = None, map_location: Any = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (a file from elsewhere cannot run code)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle with disallowed globals, random bytes…
        raise CheckpointError(f"{path} is corrupt or not a depthutils checkpoint ({type(e).__name__}: {e}). "
                              f"Delete it, or resume from another file such as best.pt.") from e
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a depthutils checkpoint (no '{CHECKPOINT_FORMAT}' marker).")
    if expect_model is not None and ck["model_name"] != expect_model:
        raise CheckpointError(f"{path} holds a {ck['model_name']!r} model, not {expect_model!r}. Use --model "
                              f"{ck['model_name']} or a different --out folder.")
    return ck


def model_from_checkpoint(ck: dict, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the model of a checkpoint (never touching the network) and load its weights."""
    model = build_model(ck["model_name"], pretrained=False)
    try:
        model.load_state_dict(ck["model_state"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint weights do not fit {ck['model_name']!r}: {e}") from e
    model.encoder.pretrained_used = ck["pretrained"]["used"]
    return model.to(device).eval()


# --- evaluation ---------------------------------------------------------------------------------------------
def predict_batch(model: nn.Module, rgb: torch.Tensor, *, flip_tta: bool = False) -> torch.Tensor:
    """Normalised depth N×1×H×W for RGB N×3×H×W in [0, 1]; with ``flip_tta`` averaged with the mirrored input."""
    device = rgb.device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        out = model(rgb).float()
        if flip_tta:
            out = 0.5 * (out + model(rgb.flip(-1)).float().flip(-1))
    return out


@torch.no_grad()
def evaluate(model: nn.Module, test: DeviceData, *, image_size: tuple[int, int], max_depth: float = 10.0,
             batch_size: int = 64, loss_fn=None, flip_tta: bool = False, edges: bool = False,
             eigen_variant: bool = False) -> dict[str, float]:
    """Test-set metrics: test preprocessing (resize only) at ``image_size``, prediction in metres vs. the
    nearest-resized ground truth at the same size. Returns the report's, the standard and (``edges``) the
    edge metrics; ``eigen_variant`` adds the standard set with the Eigen crop under ``eigen_*`` keys."""
    model.eval()
    acc = MetricAccumulator(max_depth=max_depth, edges=edges)
    acc_e = MetricAccumulator(max_depth=max_depth, eigen_crop=True) if eigen_variant else None
    loss_sum, n = torch.zeros((), device=test.rgb.device), 0
    for s in range(0, len(test), batch_size):
        rgb, depth, mask = resize_batch(test.rgb[s:s + batch_size], test.depth[s:s + batch_size], image_size)
        pred = predict_batch(model, rgb, flip_tta=flip_tta)
        if loss_fn is not None:
            loss_sum += loss_fn(pred, (depth / max_depth).clamp(0, 1), mask) * rgb.shape[0]
        n += rgb.shape[0]
        acc.update(pred * max_depth, depth, mask)
        if acc_e is not None:
            acc_e.update(pred * max_depth, depth, mask)
    out = acc.compute()
    if acc_e is not None:
        out.update({f"eigen_{k}": v for k, v in acc_e.compute().items() if k not in ("n_images", "n_skipped")})
    if loss_fn is not None:
        out["test_loss"] = float(loss_sum) / max(n, 1)
    return out


@torch.no_grad()
def predict_samples(model: nn.Module, data: DepthData, idx: np.ndarray | list[int], *, image_size: tuple[int, int],
                    max_depth: float = 10.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test preprocessing + prediction for a few pairs: RGB N×h×w×3 in [0, 1], ground truth and prediction
    N×h×w in metres, all at the model's resolution (as the metrics see them)."""
    dev = next(model.parameters()).device
    d = DeviceData(data, np.asarray(idx), dev)
    rgb, depth, _ = resize_batch(d.rgb, d.depth, tuple(image_size))
    pred = predict_batch(model.eval(), rgb) * max_depth
    return rgb.permute(0, 2, 3, 1).cpu().numpy(), depth[:, 0].cpu().numpy(), pred[:, 0].cpu().numpy()


# --- training -----------------------------------------------------------------------------------------------
_HISTORY_KEYS = ("epoch", "train_loss", "test_loss", "l1_global", "mse_global", "l1_per_image", "mse_per_image",
                 "abs_rel", "rmse", "delta1", "lr", "epoch_time_s", "images_per_s")


def _history_csv(history: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(_HISTORY_KEYS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def _epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed * 1_000_003 + epoch)
    return g


def _lr_at(cfg: TrainConfig, epoch: int) -> float:
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / max(cfg.epochs, 1)))
    return cfg.lr


def fit(cfg: TrainConfig, out: str | Path, *, resume: bool = False, overwrite: bool = False, progress: bool = True,
        data: DepthData | None = None) -> dict[str, Any]:
    """Train ``cfg.model`` as configured, writing into ``out``: config.json, history.csv, last.pt, best.pt and,
    when all epochs are done, results.json. Returns the results dict.

    ``resume=True`` continues from ``out/last.pt`` (its config wins over ``cfg`` except for ``epochs``);
    ``overwrite=True`` discards a previous run in ``out`` (the notebooks' re-run behaviour).
    """
    from tqdm.auto import tqdm

    out = Path(out)
    last_path, best_path = out / "last.pt", out / "best.pt"
    ck = None
    if overwrite and not resume:
        for name in ("last.pt", "best.pt", "history.csv", "results.json", "config.json"):
            (out / name).unlink(missing_ok=True)
    if resume and last_path.exists():
        ck = load_checkpoint(last_path, expect_model=cfg.model)
        epochs = cfg.epochs
        cfg = TrainConfig.from_dict(ck["config"])
        cfg.epochs = epochs
    elif last_path.exists() and not resume:
        raise FileExistsError(f"{out} already holds a run (last.pt). Continue it with --resume, or choose another --out.")
    out.mkdir(parents=True, exist_ok=True)

    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    if data is None:
        data = load_dataset(cfg.data, split=cfg.split, split_seed=cfg.seed, limit=cfg.limit, test_limit=cfg.test_limit,
                            synth_count=cfg.synth_count, synth_size=cfg.synth_size)
    train, test = DeviceData(data, data.train, device), DeviceData(data, data.test, device)
    if len(train) < 2:
        raise ValueError(f"need at least 2 training images, got {len(train)} (check --limit / the data)")

    if ck is not None:
        model, pretrained = model_from_checkpoint(ck), ck["pretrained"]
    else:
        model = build_model(cfg.model, pretrained=cfg.pretrained)
        pretrained = {"requested": str(cfg.pretrained).lower(), "used": model.meta["pretrained_used"]}
    # channels_last on CUDA (tensor cores) and on CPU too: oneDNN's NHWC convolutions were faster for a fp32
    # resnet_unet step on the 2-core CPU, and torch.compile added nothing (report/profile-cpu.md).
    model = model.to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                           fused=device.type == "cuda")
    if ck is not None:
        opt.load_state_dict(ck["optimizer_state"])
    step_model = torch.compile(model) if cfg.compile else model
    loss_fn = get_loss(cfg.loss)
    history: list[dict[str, Any]] = list(ck["history"]) if ck else []
    start_epoch = ck["epoch"] if ck else 0
    best = ck["best_l1"] if ck else math.inf
    train_time = ck["train_time_s"] if ck else 0.0

    meta = {
        "format": CHECKPOINT_FORMAT, "model_name": cfg.model, "title": get_spec(cfg.model).title,
        "model_meta": model.meta, "config": cfg.to_dict(), "dataset": data.identity, "pretrained": pretrained,
        "versions": versions(), "git_commit": git_commit(), "device": device_name(device),
    }
    write_json_atomic(out / "config.json", {k: v for k, v in meta.items() if k != "format"})
    if ck is not None:  # history.csv may be behind or ahead of the checkpoint after a kill: make them agree
        write_text_atomic(out / "history.csv", _history_csv(history))

    bs = cfg.batch_size
    n = len(train)
    steps = n // bs + (1 if n % bs >= 2 else 0)  # a last batch of 1 would break BatchNorm: dropped
    used = min(n, steps * bs)  # images per epoch
    try:
        for epoch in range(start_epoch, cfg.epochs):
            for group in opt.param_groups:
                group["lr"] = _lr_at(cfg, epoch)
            g = _epoch_generator(cfg.seed, epoch, device)
            perm = torch.randperm(n, device=device, generator=g)
            model.train()
            loss_sum = torch.zeros((), device=device)
            t0 = time.perf_counter()
            bar = tqdm(total=used, desc=f"{cfg.model} {epoch + 1}/{cfg.epochs}", unit="img",
                       disable=not progress, leave=False, file=sys.stderr)
            seen = 0
            for s in range(steps):
                idx = perm[s * bs:(s + 1) * bs]
                rgb, depth, mask = augment_batch(train.rgb[idx], train.depth[idx], cfg.image_size, generator=g)
                target = (depth / cfg.max_depth).clamp_(0, 1)
                rgb = rgb.contiguous(memory_format=torch.channels_last)
                try:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                        pred = step_model(rgb)
                    loss = loss_fn(pred.float(), target, mask)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                except torch.cuda.OutOfMemoryError as e:
                    raise RuntimeError(f"GPU out of memory at batch size {bs} and image size {cfg.image_size}. "
                                       f"Try --batch-size {max(bs // 2, 2)}.") from e
                loss_sum += loss.detach() * idx.numel()
                seen += idx.numel()
                bar.update(idx.numel())
                if device.type == "cpu":  # free on CPU; on CUDA this would sync every step
                    bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}")
            bar.close()
            train_loss = float(loss_sum) / seen  # one sync per epoch
            epoch_time = time.perf_counter() - t0
            train_time += epoch_time
            m = evaluate(step_model, test, image_size=cfg.image_size, max_depth=cfg.max_depth,
                         batch_size=bs, loss_fn=loss_fn)
            row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": opt.param_groups[0]["lr"],
                   "epoch_time_s": epoch_time, "images_per_s": seen / epoch_time, **m}
            history.append({k: row[k] for k in _HISTORY_KEYS if k in row})
            improved = m["l1_global"] < best
            best = min(best, m["l1_global"])
            payload = {**meta, "model_state": model.state_dict(), "optimizer_state": opt.state_dict(),
                       "epoch": epoch + 1, "history": history, "best_l1": best, "train_time_s": train_time}
            _save_checkpoint(last_path, payload)
            if improved:
                _save_checkpoint(best_path, payload)
            write_text_atomic(out / "history.csv", _history_csv(history))
            if progress:
                print(f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}: train loss {train_loss:.4f}, test L1 "
                      f"{m['l1_global']:.4f}, δ1 {m['delta1']:.3f}, {seen / epoch_time:.1f} img/s", file=sys.stderr)
    except KeyboardInterrupt:
        done = history[-1]["epoch"] if history else 0
        print(f"\ninterrupted: {done} completed epoch(s) are saved in {last_path}; continue with --resume.",
              file=sys.stderr)
        raise

    # Final evaluation of the last model: report + standard + edges, and the standard set with the Eigen crop.
    final = evaluate(step_model, test, image_size=cfg.image_size, max_depth=cfg.max_depth, batch_size=bs,
                     loss_fn=loss_fn, flip_tta=cfg.flip_tta, edges=True, eigen_variant=True)
    results = {**{k: v for k, v in meta.items() if k != "format"}, "epochs": cfg.epochs,
               "train_time_s": train_time, "metrics": final, "flip_tta": cfg.flip_tta,
               "checkpoint": str(last_path)}
    write_json_atomic(out / "results.json", results)
    return results
