"""``fit``: train one configured run into a run folder, resumably. It only orchestrates: the step, the epoch and
evaluation are in :mod:`depthutils.engine`, the files in :mod:`depthutils.run_folder`.

Fault tolerance: after every completed epoch ``best.pt`` (when the validation L1 improved; the weights only, no
optimiser state), then ``last.pt`` (weights and optimiser state: what a resume needs; dropped once the run is
finished),
then ``history.csv`` are written atomically, so a run killed at any moment resumes from its last completed
epoch and never loses its best checkpoint. Every epoch draws its shuffling and augmentation from a generator
seeded by (seed, epoch), so a resumed CPU run is bit-identical to an uninterrupted one, in fp32 and in bf16.
A non-finite training loss stops the run with an error before anything of that epoch is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from . import distributed
from ._env import device_name, git_commit, resolve_device, versions
from .config import TrainConfig
from .data import DepthData, load_dataset, resolve_data
from .distill import teacher_depth, teacher_paths
from .engine import DeviceData, evaluate, lr_at, make_optimizer, predict_batch, resolve_precision, train_one_epoch
from .losses import get_loss
from .models import build_model, get_spec
from .run_folder import CheckpointError, RunFolder, load_checkpoint, model_from_checkpoint

__all__ = [
    "fit",
    "load_data",
    "final_evaluation",
    "predict_samples",
    "NonFiniteLossError",
    "ResumeError",
    "FINAL_PER_IMAGE",
]

#: Per-image values kept in results.json (for bootstrap intervals and paired comparisons between rows).
FINAL_PER_IMAGE = ("delta1", "abs_rel", "rmse", "l1_global")
#: Settings that may differ when a run is resumed (everything else must match the run's own config).
_RESUMABLE_CHANGES = ("epochs", "extra", "device", "compile", "eval_every")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf; the last good checkpoint is kept."""


class ResumeError(ValueError):
    """--resume cannot continue this folder as asked; the message says what to do."""


def _epoch_generator(seed: int, epoch: int, device: torch.device, rank: int = 0) -> torch.Generator:
    """The generator of one epoch's shuffling and augmentation on one rank: seeded by (seed, epoch, rank)."""
    g = torch.Generator(device=device)
    g.manual_seed(seed * 1_000_003 + epoch + rank * 1_000_000_007)
    return g


def _activation_bytes_per_pixel(model: nn.Module) -> float:
    """Bytes of module outputs per input pixel of one image in fp32, counted with hooks on a 64×64 forward."""
    sizes: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, o: sizes.append(o.numel()) if torch.is_tensor(o) else None)
        for m in model.modules()
        if not list(m.children())
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, 64, 64))
    finally:
        for h in hooks:
            h.remove()
        model.train()
    return 4.0 * sum(sizes) / (64 * 64)


def _check_memory(model: nn.Module, cfg: TrainConfig, device: torch.device, precision: str, batch: int) -> None:
    """Refuse before the first step when the activations that backward keeps for one batch would not fit in the
    memory that is free (a huge --image-size or --batch-size would otherwise end in the OOM killer, or a CUDA
    out-of-memory error, mid-epoch). The estimate (every layer's output, 2 bytes a value in bf16, 4 in fp32, plus
    as much again for the backward's temporaries) errs high rather than low."""
    h, w = cfg.image_size
    need = _activation_bytes_per_pixel(model) * h * w * batch * (0.5 if precision == "bf16" else 1.0) * 2
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        try:
            meminfo = dict(line.split(":", 1) for line in open("/proc/meminfo"))
            free = int(meminfo["MemAvailable"].split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            return  # not Linux: no estimate to refuse on
    if need > free:
        raise ValueError(
            f"--image-size {h}x{w} with --batch-size {batch} needs about {need / 2**30:.1f} GiB for one training step "
            f"({model.__class__.__name__}, {precision}); {free / 2**30:.1f} GiB are free on {device.type}. Lower "
            f"--batch-size (to {max(2, int(batch * free / need))} or less) or --image-size."
        )


def default_eval_every(epochs: int) -> int:
    """About ten evaluations per run (validation + test at the model's resolution), whatever its length."""
    return max(1, round(epochs / 10))


def load_data(cfg: TrainConfig, *, with_train: bool = True) -> DepthData:
    """The data of a run as its config describes it."""
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


def _config_differences(run: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    return [
        f"{k}: run has {run.get(k)!r}, asked {v!r}"
        for k, v in asked.items()
        if k not in _RESUMABLE_CHANGES and run.get(k) != v
    ]


def fit(
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    data: DepthData | None = None,
    resume_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``cfg.model`` as configured into the run folder ``out`` and return its results (results.json).

    ``resume=True`` continues from ``out/last.pt`` (or ``resume_from``) when there is one, and starts fresh in an
    empty folder; a finished run is returned without training. Resuming refuses settings that differ from the
    run's own, except a longer ``epochs``. ``overwrite=True`` discards a previous run in ``out``.
    """
    dist_info = distributed.setup(resolve_device(cfg.device).type)
    run = RunFolder(out)
    try:
        with run.lock() if dist_info.is_main else contextlib.nullcontext():  # rank 0 alone writes the folder
            if dist_info.is_main:
                run.remove_stale_temp()
            distributed.barrier(dist_info)
            return _fit_locked(
                cfg,
                run,
                resume=resume,
                overwrite=overwrite,
                progress=progress and dist_info.is_main,
                data=data,
                resume_from=resume_from,
                dist_info=dist_info,
            )
    finally:
        distributed.teardown(dist_info)


def _resume_checkpoint(cfg: TrainConfig, run: RunFolder, resume_from: str | Path | None) -> dict | None:
    src = Path(resume_from) if resume_from else run.last
    if not src.exists():
        if not resume_from and _killed_after_first_best(run):
            return None  # killed between epoch 1's best.pt and last.pt: epoch 1 again is exact and rewrites best.pt
        if resume_from or run.holds_progress():
            raise ResumeError(
                f"{run.path} holds a run but {src} is missing, so it cannot be resumed. Resume from "
                f"another checkpoint (--resume-from {run.best}), or train into a new --out."
            )
        return None  # nothing done yet: start fresh
    try:
        ck = load_checkpoint(src, expect_model=cfg.model)
    except CheckpointError as e:
        raise ResumeError(f"{e} Options: --resume-from {run.best}, or a new --out.") from e
    asked = cfg.to_dict()
    # settings added after the run started take their defaults, which is what the run used
    diff = _config_differences(TrainConfig.from_dict(ck["config"]).to_dict(), asked)
    if diff:
        raise ResumeError(
            f"--resume: these settings differ from the run in {run.path}: {'; '.join(diff)}. Drop them "
            f"(only a longer --epochs may change), or train into a new --out."
        )
    if cfg.epochs is not None and cfg.epochs < ck["epoch"]:
        raise ResumeError(
            f"--epochs {cfg.epochs} is fewer than the {ck['epoch']} epochs {run.path} has done; "
            f"give at least {ck['epoch']}, or leave --epochs out."
        )
    return ck


def _killed_after_first_best(run: RunFolder) -> bool:
    """best.pt of epoch 1 and nothing after it: a kill between the first epoch's best.pt and last.pt."""
    if run.results.exists() or not run.best.exists():
        return False
    try:
        return load_checkpoint(run.best)["epoch"] == 1
    except CheckpointError:
        return False


def _fit_locked(
    cfg: TrainConfig,
    run: RunFolder,
    *,
    resume: bool,
    overwrite: bool,
    progress: bool,
    data: DepthData | None,
    resume_from: str | Path | None,
    dist_info: distributed.DistInfo,
) -> dict[str, Any]:
    main = dist_info.is_main
    cfg = dataclasses.replace(cfg, data=resolve_data(cfg.data))
    ck = None
    if resume:
        ck = _resume_checkpoint(cfg, run, resume_from)
    elif overwrite and main:
        for p in (run.last, run.best, run.history, run.results, run.config):
            p.unlink(missing_ok=True)
    elif not overwrite and run.holds_progress():
        raise FileExistsError(f"{run.path} already holds a run. Continue it with --resume, or choose another --out.")

    if ck is not None:  # the run's own settings, with a longer epoch count if one was asked for
        epochs = cfg.epochs if cfg.epochs is not None else ck["config"]["epochs"]
        cfg = TrainConfig.from_dict(
            {
                **ck["config"],
                "epochs": epochs,
                "device": cfg.device,
                "eval_every": cfg.eval_every,
                "extra": cfg.extra or ck["config"]["extra"],
            }
        )
    cfg = dataclasses.replace(cfg, epochs=cfg.resolved_epochs())
    done = ck["epoch"] if ck else 0
    finished = run.read_results()
    if ck is not None and done == cfg.epochs and finished and finished.get("epochs") == cfg.epochs:
        if progress:
            print(f"{run.path}: finished ({done} epochs); nothing to do.", file=sys.stderr)
        return finished

    device = resolve_device(cfg.device)
    if device.type == "cuda" and dist_info.active:
        device = torch.device("cuda", dist_info.local_rank)
    if cfg.sync_bn and dist_info.active and device.type != "cuda":
        raise ValueError(
            "--sync-bn needs GPUs: PyTorch's SyncBatchNorm runs on CUDA only. On CPU, leave it off "
            "(each process then normalises with its own batch's statistics)."
        )
    if cfg.batch_size % dist_info.world_size:
        raise ValueError(
            f"--batch-size {cfg.batch_size} is the global batch and must split evenly over "
            f"{dist_info.world_size} processes"
        )
    precision = resolve_precision(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    if data is None:
        data = load_data(cfg)
    if len(data.train) < 2:
        raise ValueError(f"need at least 2 training images, got {len(data.train)} (check --limit / the data)")
    train = DeviceData(data, distributed.shard(data.train, dist_info), device)  # this rank's shard
    if cfg.teacher:  # distillation: the teacher ensemble's depth of each training image, as a second target
        held_out = data.identity["val_indices"] + data.identity["test_indices"]  # indices into the source
        train.add_teacher(teacher_depth(teacher_paths(cfg.teacher), train, held_out=held_out, precision=cfg.precision))
    val = DeviceData(data, data.val, device) if len(data.val) and main else None  # rank 0 evaluates
    test = DeviceData(data, data.test, device, gt=data.test_gt) if main else None

    if ck is not None:
        model, pretrained = model_from_checkpoint(ck), ck["pretrained"]
    else:
        model = build_model(cfg.model, pretrained=cfg.pretrained, head=cfg.head)
        pretrained = {"requested": str(cfg.pretrained).lower(), "used": model.meta["pretrained_used"]}
        if cfg.init_from:  # weights of another run (e.g. on the synthetic rooms); optimiser and schedule start afresh
            init = load_checkpoint(cfg.init_from, expect_model=cfg.model)
            model.load_state_dict(init["model_state"])
            pretrained = {
                **pretrained,
                "init_from": str(cfg.init_from),
                "init_data": init["dataset"].get("name"),
                "used": f"{init['pretrained']['used']} + {init['dataset'].get('kind')} pretraining",
            }
    _check_memory(model, cfg, device, precision, cfg.batch_size // dist_info.world_size)
    # channels_last on CUDA (tensor cores) and on CPU (oneDNN's NHWC convolutions were faster, profile-cpu.md)
    model = model.to(device).to(memory_format=torch.channels_last)
    opt = make_optimizer(cfg.optimizer, model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, device=device)
    if ck is not None and ck.get("optimizer_state") is not None:
        opt.load_state_dict(ck["optimizer_state"])
    elif ck is not None:  # best.pt, and a finished run's last.pt, keep the weights only: a fresh optimiser
        print(
            f"note: {resume_from or run.last} holds no optimiser state (best.pt and a finished run keep the weights "
            "only); continuing from its weights with a fresh Adam state, so this run is no longer bit-exact",
            file=sys.stderr,
        )
        pretrained = {**pretrained, "resumed_without_optimizer_state": f"epoch {ck['epoch']}"}
    eval_model = model
    if dist_info.active:  # gradients averaged across ranks by DDP; BatchNorm per rank unless --sync-bn
        if cfg.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            eval_model = model
        step_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        step_model = model
    step_model = torch.compile(step_model) if cfg.compile else step_model
    loss_fn = get_loss(cfg.loss)
    history: list[dict[str, Any]] = list(ck["history"]) if ck else []
    best = ck.get("best_val_l1", math.inf) if ck else math.inf
    train_time = ck["train_time_s"] if ck else 0.0
    eval_every = cfg.eval_every or default_eval_every(cfg.epochs)

    meta = {
        "model_name": cfg.model,
        "title": get_spec(cfg.model).title,
        "model_meta": model.meta,
        "config": cfg.to_dict(),
        "dataset": data.identity,
        "pretrained": pretrained,
        "precision": precision,
        "versions": versions(),
        "git_commit": git_commit(),
        "device": device_name(device),
        "distributed": dist_info.record(),
    }
    if main:
        run.write_config(meta)
    if ck is not None and main:  # history.csv may be behind or ahead of the checkpoint after a kill: make them agree
        run.write_history(history)
        if not run.best.exists() and val is not None and math.isfinite(best):
            _recreate_best(run, ck)

    try:
        for epoch in range(done, cfg.epochs):
            lr = lr_at(epoch, lr=cfg.lr, epochs=cfg.epochs, schedule=cfg.lr_schedule, warmup_epochs=cfg.warmup_epochs)
            for group in opt.param_groups:
                group["lr"] = lr
            ep = train_one_epoch(
                step_model,
                opt,
                loss_fn,
                train,
                batch_size=cfg.batch_size // dist_info.world_size,
                image_size=cfg.image_size,
                max_depth=cfg.max_depth,
                precision=precision,
                generator=_epoch_generator(cfg.seed, epoch, device, dist_info.rank),
                scale_aug=cfg.scale_aug,
                augment=cfg.augment,
                cutdepth=cfg.cutdepth,
                distill_weight=cfg.distill_weight,
                desc=f"{cfg.model} {epoch + 1}/{cfg.epochs}",
                progress=progress,
            )
            ep["train_loss"] = distributed.mean_across_ranks(ep["train_loss"], device, dist_info)
            if not math.isfinite(ep["train_loss"]):
                raise NonFiniteLossError(
                    f"{cfg.model}: the training loss became {ep['train_loss']} in epoch {epoch + 1}; nothing of that "
                    f"epoch was saved. {run.last} holds epoch {epoch}. Lower --lr (now {cfg.lr}) or check the data."
                )
            train_time += ep["seconds"]
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": ep["train_loss"],
                "lr": lr,
                "epoch_time_s": ep["seconds"],
                "images_per_s": ep["images"] * dist_info.world_size / ep["seconds"],
            }
            improved = False
            if main and ((epoch + 1) % eval_every == 0 or epoch + 1 == cfg.epochs):
                kw = dict(
                    image_size=cfg.image_size, max_depth=cfg.max_depth, precision=precision, batch_size=cfg.batch_size
                )
                if val is not None:
                    v = evaluate(eval_model, val, **kw)
                    row.update(val_l1=v["l1_global"], val_delta1=v["delta1"], val_abs_rel=v["abs_rel"])
                    improved = v["l1_global"] < best
                    best = min(best, v["l1_global"])
                t = evaluate(eval_model, test, loss_fn=loss_fn, **kw)
                row.update(
                    test_loss=t["test_loss"],
                    test_l1=t["l1_global"],
                    test_mse=t["mse_global"],
                    test_delta1=t["delta1"],
                    test_abs_rel=t["abs_rel"],
                    test_rmse=t["rmse"],
                )
            history.append(row)
            payload = {
                **meta,
                "model_state": model.state_dict(),
                "optimizer_state": opt.state_dict(),
                "epoch": epoch + 1,
                "history": history,
                "best_val_l1": best,
                "train_time_s": train_time,
            }
            if improved:  # best before last: a kill in between never leaves last.pt ahead of a missing best
                # the weights only: best.pt is for evaluation and prediction, last.pt is what a resume needs
                run.save_checkpoint(run.best, {k: v for k, v in payload.items() if k != "optimizer_state"})
            if main:
                run.save_checkpoint(run.last, payload)
                run.write_history(history)
            if progress:
                extra = f", val L1 {row['val_l1']:.4f}" if "val_l1" in row else ""
                extra += f", test δ1 {row['test_delta1']:.3f}" if "test_delta1" in row else ""
                print(
                    f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}: train loss {ep['train_loss']:.4f}{extra}, "
                    f"{row['images_per_s']:.1f} img/s",
                    file=sys.stderr,
                )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: {len(history)} completed epoch(s) are saved in {run.last}; continue with --resume.",
            file=sys.stderr,
        )
        raise

    if not main:  # rank 0 evaluates and writes the results; the others are done
        distributed.barrier(dist_info)
        return {}
    results = final_evaluation(
        eval_model,
        test,
        image_size=cfg.image_size,
        max_depth=cfg.max_depth,
        precision=precision,
        loss=cfg.loss,
        flip_tta=cfg.flip_tta,
    )
    results = {
        **meta,
        "epochs": cfg.epochs,
        "train_time_s": train_time,
        "checkpoint": run.last.name,
        "selection": "last epoch (best.pt, chosen on validation L1, is kept beside it)",
        **results,
    }
    run.write_results(results)
    _drop_optimizer_state(run)
    distributed.barrier(dist_info)
    return results


def _drop_optimizer_state(run: RunFolder) -> None:
    """A finished run keeps its weights, not its optimiser state (two thirds of an Adam checkpoint): last.pt is
    rewritten without it. Extending the run (``--resume --epochs`` more) then goes on with a fresh Adam state."""
    ck = load_checkpoint(run.last)
    if ck.get("optimizer_state") is not None:
        run.save_checkpoint(
            run.last, {k: v for k, v in ck.items() if k not in ("format", "state_sha256", "optimizer_state")}
        )


def final_evaluation(
    model: torch.nn.Module,
    test: DeviceData,
    *,
    image_size: tuple[int, int],
    max_depth: float,
    precision: str,
    loss: str | None,
    flip_tta: bool,
    edges: bool = True,
) -> dict[str, Any]:
    """Both protocols on the test set, with bootstrap intervals and per-image values (the layout of
    results.json's ``protocols`` and ``per_image``)."""
    kw = dict(
        image_size=image_size, max_depth=max_depth, precision=precision, intervals=True, per_image=FINAL_PER_IMAGE
    )
    report = evaluate(model, test, protocol="report", loss_fn=get_loss(loss) if loss else None, edges=edges, **kw)
    standard = evaluate(model, test, protocol="standard", flip_tta=flip_tta, **kw)
    per_image = {"report": report.pop("per_image"), "standard": standard.pop("per_image")}
    return {"protocols": {"report": report, "standard": standard}, "per_image": per_image}


def _recreate_best(run: RunFolder, ck: dict) -> None:
    """A kill between writing best.pt and last.pt cannot happen (best is written first), but a user may have
    deleted best.pt: when last.pt's own epoch is the best one, write it again."""
    hist = [h for h in ck["history"] if h.get("val_l1") is not None]
    if hist and hist[-1]["val_l1"] <= ck["best_val_l1"]:
        drop = ("format", "state_sha256", "optimizer_state")
        run.save_checkpoint(run.best, {k: v for k, v in ck.items() if k not in drop})


@torch.no_grad()
def predict_samples(
    model: torch.nn.Module,
    data: DepthData,
    idx: np.ndarray | list[int],
    *,
    image_size: tuple[int, int],
    max_depth: float = 10.0,
    precision: str = "fp32",
    flip_tta: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A few pairs as the standard protocol sees them, at the data's stored resolution: RGB N×H×W×3 uint8,
    ground truth N×H×W metres, and the prediction made at the model's input size and upsampled bilinearly to
    H×W. Every model's samples thus share one size, whatever its input (square or 4:3)."""
    import torch.nn.functional as F

    from .data import resize_batch

    dev = next(model.parameters()).device
    d = DeviceData(data, np.asarray(idx), dev)
    rgb, _, _ = resize_batch(d.rgb, d.depth, tuple(image_size))
    pred = predict_batch(model.eval(), rgb, precision=precision, flip_tta=flip_tta)
    pred = F.interpolate(pred, size=d.depth.shape[-2:], mode="bilinear", align_corners=False) * max_depth
    full = d.rgb.permute(0, 2, 3, 1).cpu().numpy()
    return full, d.depth[:, 0].cpu().numpy(), pred[:, 0].cpu().numpy()
