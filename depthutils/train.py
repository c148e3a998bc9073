"""``fit``: train one configured run into a run folder, resumably. It only orchestrates: the step, the epoch and
evaluation are in :mod:`depthutils.engine`, which files are written when in :mod:`depthutils.checkpointing`, their
formats in :mod:`depthutils.run_folder`, the final test evaluation in :mod:`depthutils.evaluation`.

Read it in three parts: :func:`_resolve_config` (the resume rules: which settings and which checkpoint),
:func:`_setup` (device, data, model, optimiser, in the order that keeps runs bit-identical) and
:func:`_train_epochs` (the epoch loop, one screen).

Fault tolerance: after every completed epoch ``best.pt`` (when the validation L1 improved; the weights only, no
optimiser state), then ``last.pt`` (weights and optimiser state: what a resume needs; dropped once the run is
finished), then ``history.csv`` are written atomically, so a run killed at any moment resumes from its last
completed epoch and never loses its best checkpoint. Every epoch draws its shuffling and augmentation from a
generator seeded by (seed, epoch, rank), so a resumed CPU run is bit-identical to an uninterrupted one, in fp32 and in
bf16. A non-finite training loss stops the run with an error before anything of that epoch is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from . import distributed
from ._env import device_name, git_commit, resolve_device, versions
from .checkpointing import CheckpointPolicy
from .config import TrainConfig
from .data import DepthData, resolve_data
from .data.dataset import load_data  # fit reads its data through this name (the tests patch it here)
from .distill import teacher_depth, teacher_paths
from .engine import DeviceData, evaluate, lr_at, make_optimizer, param_groups, resolve_precision, train_one_epoch
from .evaluation import final_evaluation
from .losses import get_loss
from .models import build_model, get_spec
from .run_folder import Checkpoint, CheckpointError, Results, RunFolder, load_checkpoint, model_from_checkpoint
from .study import default_epochs

if TYPE_CHECKING:
    from .models import PretrainedMode

__all__ = ["fit", "NonFiniteLossError", "ResumeError"]

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
        fits = int(batch * free / need)  # the batch that would fit; BatchNorm needs at least 2
        todo = (
            f"Lower --batch-size (to {fits} or less) or --image-size."
            if fits >= 2
            else "Lower --image-size: even the smallest batch (2, which BatchNorm needs) would not fit."
        )
        raise ValueError(
            f"--image-size {h}x{w} with --batch-size {batch} needs about {need / 2**30:.1f} GiB for one training step "
            f"({model.__class__.__name__}, {precision}); {free / 2**30:.1f} GiB are free on {device.type}. {todo}"
        )


def default_eval_every(epochs: int) -> int:
    """About ten evaluations per run (validation + test at the model's resolution), whatever its length."""
    return max(1, round(epochs / 10))


def fit(
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    data: DepthData | None = None,
    resume_from: str | Path | None = None,
) -> Results | None:
    """Train ``cfg.model`` as configured into the run folder ``out`` and return its results (results.json); under
    torchrun, the processes other than rank 0 (which evaluates and writes them) return None.

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
) -> Results | None:
    """``fit`` inside the run folder's lock: resolve, set up, loop over the epochs, evaluate on the test set."""
    main = dist_info.is_main
    cfg, ck = _resolve_config(cfg, run, resume=resume, overwrite=overwrite, resume_from=resume_from, main=main)
    finished = run.read_results()
    if ck is not None and ck["epoch"] == cfg.epochs and finished and finished.get("epochs") == cfg.epochs:
        if progress:
            print(f"{run.path}: finished ({ck['epoch']} epochs); nothing to do.", file=sys.stderr)
        return finished

    s = _setup(cfg, run, ck, data=data, dist_info=dist_info, resume_from=resume_from)
    best = ck.get("best_val_l1", math.inf) if ck else math.inf  # inf before the first validation
    policy = CheckpointPolicy(run, best_val_l1=best, writer=main)
    if main:
        run.write_config(s.meta)
    if ck is not None:  # history.csv may be behind or ahead of the checkpoint after a kill: make them agree
        policy.resume(ck, validates=s.val is not None)
    _train_epochs(s, policy, progress=progress)

    if not main:  # rank 0 evaluates and writes the results; the others are done
        distributed.barrier(dist_info)
        return None  # only rank 0 returns the results
    results = _final_results(s)
    run.write_results(results)
    policy.finish()  # last.pt drops its optimiser state
    distributed.barrier(dist_info)
    return results


# -- the resume rules: which settings, which checkpoint ----------------------------------------------------------


def _resolve_config(
    cfg: TrainConfig,
    run: RunFolder,
    *,
    resume: bool,
    overwrite: bool,
    resume_from: str | Path | None,
    main: bool,
) -> tuple[TrainConfig, Checkpoint | None]:
    """(the configuration this call trains with, the checkpoint it continues from or None for a fresh start).

    A resumed run keeps its own settings, with a longer epoch count (and device, evaluation interval, extras) if
    asked; ``overwrite`` clears the folder's files (rank 0); a folder holding a run is otherwise refused. The
    returned configuration has its data and its epoch count resolved."""
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
    return dataclasses.replace(cfg, epochs=cfg.epochs or default_epochs(cfg.model)), ck


def _config_differences(
    run: dict[str, Any], asked: dict[str, Any], *, has: str = "run", wants: str = "asked"
) -> list[str]:
    """Each setting of ``asked`` that ``run`` (the checkpoint's settings) holds otherwise, named with both values:
    ``has`` names where the first value comes from, ``wants`` the second."""
    return [
        f"{k}: {has} has {run.get(k)!r}, {wants} {v!r}"
        for k, v in asked.items()
        if k not in _RESUMABLE_CHANGES and run.get(k) != v
    ]


def _other_checkpoint(run: RunFolder, failed: Path, cfg: TrainConfig) -> str:
    """What to do when ``failed`` cannot be resumed: resume from best.pt only if it is another file that loads."""
    if run.best.exists() and run.best.resolve() != failed.resolve():
        try:
            load_checkpoint(run.best, expect_model=cfg.model)
            return f"Options: --resume-from {run.best} (a fresh optimiser from its epoch), or a new --out."
        except CheckpointError:
            pass
    return "No other checkpoint of this run loads: train into a new --out."


def _resume_checkpoint(cfg: TrainConfig, run: RunFolder, resume_from: str | Path | None) -> Checkpoint | None:
    """The checkpoint ``--resume`` continues from (``resume_from``, else last.pt), checked against the settings
    asked for; None when there is nothing to continue (start fresh). Anything else it cannot do is a ResumeError
    that says what to do instead."""
    src = Path(resume_from) if resume_from else run.last
    if not src.exists():
        if not resume_from and CheckpointPolicy.killed_after_first_best(run):
            return None  # killed between epoch 1's best.pt and last.pt: epoch 1 again is exact and rewrites best.pt
        if resume_from or run.holds_progress():
            raise ResumeError(
                f"{run.path} holds a run but {src} is missing, so it cannot be resumed. "
                f"{_other_checkpoint(run, src, cfg)}"
            )
        return None  # nothing done yet: start fresh
    try:
        ck = load_checkpoint(src, expect_model=cfg.model)
    except CheckpointError as e:
        raise ResumeError(f"{e} {_other_checkpoint(run, src, cfg)}") from e
    asked = cfg.to_dict()
    # settings added after the run started take their defaults, which is what the run used
    # with --resume-from, the checkpoint may come from another run: name it, and the settings this run asks for
    has, wants = (f"{src}", f"the run in {run.path} (and the flags) ask") if resume_from else ("run", "asked")
    diff = _config_differences(TrainConfig.from_dict(ck["config"]).to_dict(), asked, has=has, wants=wants)
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


# -- setup: device, data, model, optimiser -------------------------------------------------------------------------


@dataclasses.dataclass
class _Setup:
    """Everything the epoch loop needs, built once by :func:`_setup`; the loop appends to ``history`` and adds to
    ``train_time``. The best validation L1 is the checkpoint policy's."""

    cfg: TrainConfig  # resolved: the run's own settings, epochs resolved
    run: RunFolder
    world: distributed.DistInfo
    device: torch.device  # this rank's device
    precision: str  # 'fp32' or 'bf16', resolved for the device
    train: DeviceData  # this rank's shard of the training images (uint8 N×3×H×W, depth N×1×H×W metres)
    val: DeviceData | None  # rank 0 only, and only when the split holds validation images
    test: DeviceData | None  # rank 0 only (with the full-size ground truth when there is one)
    model: nn.Module  # the weights that checkpoints save and evaluation runs
    step_model: nn.Module  # what the step calls: ``model`` under DDP and/or torch.compile
    opt: torch.optim.Optimizer
    loss_fn: Callable[..., torch.Tensor]
    eval_every: int  # evaluate (validation + test) every this many epochs, and after the last
    meta: dict[str, Any]  # the run's record: every checkpoint and results.json start with it
    done: int  # epochs completed before this call
    history: list[dict[str, Any]]  # one row per completed epoch (history.csv)
    train_time: float  # seconds spent training, over every call


def _setup(
    cfg: TrainConfig,
    run: RunFolder,
    ck: Checkpoint | None,
    *,
    data: DepthData | None,
    dist_info: distributed.DistInfo,
    resume_from: str | Path | None,
) -> _Setup:
    """Build the run from its configuration (and the checkpoint it resumes from). The order is part of the
    numbers: the global seed is set before the data is loaded and the model initialised, as it always was, so
    that a run with the same settings draws the same initial weights."""
    device, precision = _seeded_device(cfg, dist_info)
    if data is None:
        data = load_data(cfg)
    train, val, test = _device_data(cfg, data, device, dist_info)
    model, pretrained = _initial_model(cfg, ck)
    _check_memory(model, cfg, device, precision, cfg.batch_size // dist_info.world_size)
    # channels_last on CUDA (tensor cores) and on CPU (oneDNN's NHWC convolutions were faster, profile-cpu.md)
    model = model.to(device).to(memory_format=torch.channels_last)
    params = param_groups(model, cfg.encoder_lr_scale)
    opt = make_optimizer(cfg.optimizer, params, lr=cfg.lr, weight_decay=cfg.weight_decay, device=device)
    pretrained = _restore_optimizer(opt, ck, pretrained, source=resume_from or run.last)
    model, step_model = _step_model(model, cfg, device, dist_info)
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
    return _Setup(
        cfg=cfg,
        run=run,
        world=dist_info,
        device=device,
        precision=precision,
        train=train,
        val=val,
        test=test,
        model=model,
        step_model=step_model,
        opt=opt,
        loss_fn=get_loss(cfg.loss),
        eval_every=cfg.eval_every or default_eval_every(cast(int, cfg.epochs)),  # epochs: resolved by _resolve_config
        meta=meta,
        done=ck["epoch"] if ck else 0,
        history=list(ck["history"]) if ck else [],
        train_time=ck["train_time_s"] if ck else 0.0,
    )


def _seeded_device(cfg: TrainConfig, dist_info: distributed.DistInfo) -> tuple[torch.device, str]:
    """(this rank's device, the resolved precision), after the checks that need no data; seeds the global RNG
    (``cfg.seed``) and sets the CUDA speed flags."""
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
    return device, precision


def _device_data(
    cfg: TrainConfig, data: DepthData, device: torch.device, dist_info: distributed.DistInfo
) -> tuple[DeviceData, DeviceData | None, DeviceData | None]:
    """(this rank's training shard, with the teacher's depth when distilling; validation and test, rank 0 only),
    each copied to ``device`` once."""
    if len(data.train) < 2:
        raise ValueError(f"need at least 2 training images, got {len(data.train)} (check --limit / the data)")
    train = DeviceData(data, distributed.shard(data.train, dist_info), device)  # this rank's shard
    if cfg.teacher:  # distillation: the teacher ensemble's depth of each training image, as a second target
        held_out = data.identity["val_indices"] + data.identity["test_indices"]  # indices into the source
        train.add_teacher(teacher_depth(teacher_paths(cfg.teacher), train, held_out=held_out, precision=cfg.precision))
    main = dist_info.is_main
    val = DeviceData(data, data.val, device) if len(data.val) and main else None  # rank 0 evaluates
    test = DeviceData(data, data.test, device, gt=data.test_gt) if main else None
    return train, val, test


def _initial_model(cfg: TrainConfig, ck: Checkpoint | None) -> tuple[nn.Module, dict[str, Any]]:
    """(the model on the CPU, the record of its initialisation): the checkpoint's weights when resuming, else a
    new model (its encoder pretrained as asked), optionally with the weights of another run (``init_from``)."""
    if ck is not None:
        return model_from_checkpoint(ck), ck["pretrained"]
    # parse_pretrained made cfg.pretrained True, False or 'auto'
    model = build_model(cfg.model, pretrained=cast("PretrainedMode", cfg.pretrained), head=cfg.head)
    pretrained = {"requested": str(cfg.pretrained).lower(), "used": model.meta["pretrained_used"]}
    if "pretrained_source" in model.meta:  # where the ImageNet weights came from (package, version, SHA-256)
        pretrained["source"] = model.meta["pretrained_source"]
    if cfg.init_from:  # weights of another run (e.g. on the synthetic rooms); optimiser and schedule start afresh
        init = load_checkpoint(cfg.init_from, expect_model=cfg.model)
        model.load_state_dict(init["model_state"])
        pretrained = {
            **pretrained,
            "init_from": str(cfg.init_from),
            "init_data": init["dataset"].get("name"),
            "used": f"{init['pretrained']['used']} + {init['dataset'].get('kind')} pretraining",
        }
    return model, pretrained


def _restore_optimizer(
    opt: torch.optim.Optimizer, ck: Checkpoint | None, pretrained: dict[str, Any], *, source: str | Path
) -> dict[str, Any]:
    """Load the checkpoint's optimiser state into ``opt``; returns ``pretrained``, noting a resume that had none
    to load (best.pt, and a finished run's last.pt, keep the weights only: a fresh optimiser, not bit-exact)."""
    state = ck.get("optimizer_state") if ck is not None else None
    if state is not None:
        opt.load_state_dict(state)
    elif ck is not None:
        print(
            f"note: {source} holds no optimiser state (best.pt and a finished run keep the weights "
            "only); continuing from its weights with a fresh Adam state, so this run is no longer bit-exact",
            file=sys.stderr,
        )
        pretrained = {**pretrained, "resumed_without_optimizer_state": f"epoch {ck['epoch']}"}
    return pretrained


def _step_model(
    model: nn.Module, cfg: TrainConfig, device: torch.device, dist_info: distributed.DistInfo
) -> tuple[nn.Module, nn.Module]:
    """(the model whose weights are saved and evaluated, the model the step calls). Under torchrun the step's
    model is DDP (gradients averaged across ranks; BatchNorm per rank unless --sync-bn, which converts ``model``
    itself); with --compile it is compiled."""
    step_model: nn.Module
    if dist_info.active:
        if cfg.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        step_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        step_model = model
    # torch.compile of a module is a module (OptimizedModule); its stub says only Callable
    return model, cast(nn.Module, torch.compile(step_model)) if cfg.compile else step_model


# -- the epoch loop ------------------------------------------------------------------------------------------------


def _train_epochs(s: _Setup, policy: CheckpointPolicy, *, progress: bool) -> None:
    """Train from the first epoch not yet done to ``cfg.epochs``. Each epoch: set the scheduled learning rate,
    train one pass (shuffling and augmentation from a generator seeded by (seed, epoch, rank)), stop on a
    non-finite loss before anything of the epoch is written, evaluate on rank 0 every ``eval_every`` epochs and
    after the last, then hand the epoch's checkpoint to the policy (best.pt, last.pt, history.csv)."""
    cfg, world = s.cfg, s.world
    assert cfg.epochs is not None  # resolved by _resolve_config
    try:
        for epoch in range(s.done, cfg.epochs):
            lr = lr_at(epoch, lr=cfg.lr, epochs=cfg.epochs, schedule=cfg.lr_schedule, warmup_epochs=cfg.warmup_epochs)
            for group in s.opt.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)  # the encoder's group: encoder_lr_scale
            ep = train_one_epoch(
                s.step_model,
                s.opt,
                s.loss_fn,
                s.train,
                batch_size=cfg.batch_size // world.world_size,  # the global batch, split over the ranks
                image_size=cfg.image_size,
                max_depth=cfg.max_depth,
                precision=s.precision,
                generator=_epoch_generator(cfg.seed, epoch, s.device, world.rank),
                scale_aug=cfg.scale_aug,
                augment=cfg.augment,
                cutdepth=cfg.cutdepth,
                distill_weight=cfg.distill_weight,
                desc=f"{cfg.model} {epoch + 1}/{cfg.epochs}",
                progress=progress,
            )
            ep["train_loss"] = distributed.mean_across_ranks(ep["train_loss"], s.device, world)
            if not math.isfinite(ep["train_loss"]):
                kept = f"{s.run.last} holds epoch {epoch}" if epoch else "the run has no finished epoch to keep"
                raise NonFiniteLossError(
                    f"{cfg.model}: the training loss became {ep['train_loss']} in epoch {epoch + 1}; nothing of that "
                    f"epoch was saved; {kept}. Lower --lr (now {cfg.lr}) or check the data."
                )
            s.train_time += ep["seconds"]
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": ep["train_loss"],
                "lr": lr,
                "epoch_time_s": ep["seconds"],
                "images_per_s": ep["images"] * world.world_size / ep["seconds"],
            }
            if world.is_main and ((epoch + 1) % s.eval_every == 0 or epoch + 1 == cfg.epochs):
                row.update(_evaluate_epoch(s))  # val_* (when the split has validation images), then test_*
                if "val_l1" in row:
                    policy.observe(row["val_l1"])  # a new best: the policy writes best.pt with this epoch
            s.history.append(row)
            policy.save(_checkpoint(s, epoch + 1, best_val_l1=policy.best_val_l1))
            if progress:
                _print_epoch(cfg, epoch, ep["train_loss"], row)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: {len(s.history)} completed epoch(s) are saved in {s.run.last}; continue with --resume.",
            file=sys.stderr,
        )
        raise


def _evaluate_epoch(s: _Setup) -> dict[str, float]:
    """The history columns of one evaluation at the model's resolution (report protocol): validation L1, δ1 and
    AbsRel when there are validation images, then the test loss and metrics."""
    cfg = s.cfg
    kw: dict[str, Any] = dict(
        image_size=cfg.image_size, max_depth=cfg.max_depth, precision=s.precision, batch_size=cfg.batch_size
    )
    row: dict[str, float] = {}
    if s.val is not None:
        v = evaluate(s.model, s.val, **kw)
        row.update(val_l1=v["l1_global"], val_delta1=v["delta1"], val_abs_rel=v["abs_rel"])
    assert s.test is not None  # rank 0, the one that evaluates, holds the test images
    t = evaluate(s.model, s.test, loss_fn=s.loss_fn, **kw)
    row.update(
        test_loss=t["test_loss"],
        test_l1=t["l1_global"],
        test_mse=t["mse_global"],
        test_delta1=t["delta1"],
        test_abs_rel=t["abs_rel"],
        test_rmse=t["rmse"],
    )
    return row


def _checkpoint(s: _Setup, epoch: int, *, best_val_l1: float) -> dict[str, Any]:
    """The checkpoint of ``epoch`` (completed): the run's record, weights, optimiser state, history, the best
    validation L1 so far. The entries and their order are the checkpoint format's (docs/ARCHITECTURE.md)."""
    return {
        **s.meta,
        "model_state": s.model.state_dict(),
        "optimizer_state": s.opt.state_dict(),
        "epoch": epoch,
        "history": s.history,
        "best_val_l1": best_val_l1,
        "train_time_s": s.train_time,
    }


def _print_epoch(cfg: TrainConfig, epoch: int, train_loss: float, row: dict[str, Any]) -> None:
    extra = f", val L1 {row['val_l1']:.4f}" if "val_l1" in row else ""
    extra += f", test δ1 {row['test_delta1']:.3f}" if "test_delta1" in row else ""
    print(
        f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}: train loss {train_loss:.4f}{extra}, "
        f"{row['images_per_s']:.1f} img/s",
        file=sys.stderr,
    )


def _final_results(s: _Setup) -> Results:
    """results.json: the run's record, its length and training time, and both protocols on the test set (the
    last epoch's weights; best.pt is kept beside them)."""
    cfg = s.cfg
    assert s.test is not None  # rank 0, the one that evaluates, holds the test images
    results = final_evaluation(
        s.model,
        s.test,
        image_size=cfg.image_size,
        max_depth=cfg.max_depth,
        precision=s.precision,
        loss=cfg.loss,
        flip_tta=cfg.flip_tta,
    )
    # s.meta (the run's record) and the evaluation's protocols and per_image complete the Results
    return cast(
        Results,
        {
            **s.meta,
            "epochs": cfg.epochs,
            "train_time_s": s.train_time,
            "checkpoint": s.run.last.name,
            "selection": "last epoch (best.pt, chosen on validation L1, is kept beside it)",
            **results,
        },
    )
