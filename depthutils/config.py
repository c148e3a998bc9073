"""Every setting of a training run, declared once.

``TrainConfig`` is the one declaration of a setting: the ``train`` command's flags are generated from its fields
(help text from each field's metadata), the notebooks' parameters are its field names, and a run saves it as
``config.json`` and inside every checkpoint. An unknown key is an error that names the nearest valid one.
Unset ``epochs`` is resolved where a run starts (``fit``), from the study manifest's schedule for the model
(:func:`depthutils.study.default_epochs`): the configuration itself imports nothing of the study.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from .data.dataset import SYNTH_COUNT, SYNTH_SIZE
from .losses import get_loss

__all__ = [
    "TrainConfig",
    "parse_pretrained",
    "parse_size",
    "config_fields",
]


PRECISIONS = ("auto", "bf16", "fp32")
SPLITS = ("report", "official")
SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adam", "adamw")
DEVICES = ("auto", "cpu", "cuda")


def parse_pretrained(v: Any) -> bool | str:
    """'true'/'false'/'auto' (any case) or a bool → True / False / 'auto'."""
    if isinstance(v, bool) or v == "auto":
        return v
    s = str(v).strip().lower()
    if s in ("true", "1", "yes"):
        return True
    if s in ("false", "0", "no"):
        return False
    if s == "auto":
        return "auto"
    raise ValueError(f"pretrained must be true, false or auto, got {v!r}")


def parse_size(v: Any) -> tuple[int, int]:
    """128 → (128, 128); '96x128' or (96, 128) → (H, W). Sizes are height × width everywhere."""
    try:
        if isinstance(v, int):
            h, w = v, v
        elif isinstance(v, (tuple, list)):
            h, w = (int(x) for x in v)
        else:
            s = str(v).lower().strip()
            h, w = (int(x) for x in s.split("x")) if "x" in s else (int(s), int(s))
    except ValueError:
        raise ValueError(f"size {v!r} is not N or HxW (height x width), e.g. 128 or 96x128") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size {v!r} must be positive")
    return h, w


#: Other names users give settings (other libraries' spellings), for the hint of an unknown key; spelling slips
#: are caught by their similarity instead.
_SYNONYMS = {
    "learning_rate": "lr",
    "lr_rate": "lr",
    "batch": "batch_size",
    "bs": "batch_size",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "max_epochs": "epochs",
    "input_size": "image_size",
    "img_size": "image_size",
    "resolution": "image_size",
    "wd": "weight_decay",
    "scheduler": "lr_schedule",
    "amp": "precision",
    "dtype": "precision",
    "dataset": "data",
}


def _f(default: Any, help: str, **meta: Any) -> Any:
    """A dataclass field whose help text (and CLI choices) live in its metadata."""
    kw = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"help": help, **meta}, **kw)


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as ``config.json`` and inside every checkpoint."""

    model: str = _f("", "registry name (python -m depthutils models lists them)")
    data: str | None = _f(
        None, "'synthetic', a .mat file or an RGB-D folder (default: $DEPTHUTILS_DATA, else synthetic)"
    )
    gt_data: str | None = _f(
        None,
        "full-resolution ground truth for the standard protocol: the 640x480 RGB-D folder "
        "or .mat beside a downscaled training copy (default: the training data itself)",
    )
    epochs: int | None = _f(None, "default: the report's schedule for the model (with --resume: the run's own)")
    batch_size: int = _f(64, "images per step")
    optimizer: str = _f("adam", "adam or adamw", choices=OPTIMIZERS)
    lr: float = _f(1e-3, "peak learning rate (chosen by the sweep in docs/CHOICES.md)")
    weight_decay: float = _f(0.0, "weight decay (decoupled with adamw)")
    encoder_lr_scale: float = _f(
        1.0, "the encoder's learning rate as a fraction of lr (e.g. 0.1 to fine-tune ImageNet weights gently)"
    )
    lr_schedule: str = _f("cosine", "constant, or cosine decay to 0 over the run (per epoch)", choices=SCHEDULES)
    warmup_epochs: int = _f(0, "linear warm-up epochs before the schedule")
    loss: str = _f("l1", "l1, berhu, ssim_l1, gradient, silog, or a sum such as 'silog+0.5*gradient'")
    head: str = _f(
        "relu",
        "output activation: relu (the report's), sigmoid, or exp (log-depth)",
        choices=("relu", "sigmoid", "exp"),
    )
    image_size: tuple[int, int] = _f((128, 128), "model input N or HxW, multiples of 32 (96x128 keeps NYU's 4:3)")
    augment: str = _f(
        "report",
        "report (rotation, crop, flip, brightness), color (+ gamma and colour jitter) or none",
        choices=("report", "color", "none"),
    )
    scale_aug: tuple[float, float] = _f(
        (1.0, 1.0), "crop scale range s (zoom 1/s); 1,1 = the report's fixed crop", nargs=2
    )
    cutdepth: float = _f(0.0, "CutDepth probability: a random rectangle of the input shows the depth (0 = off)")
    teacher: str | None = _f(
        None,
        "distillation: finished runs' checkpoints, separated by commas; their flip-TTA mean prediction of each "
        "training image is an extra target",
    )
    distill_weight: float = _f(1.0, "weight of the loss against the teacher's depth (with --teacher)")
    seed: int = _f(0, "model init, split and augmentation")
    split: str = _f("report", "report (seeded random 1111/338) or official (795/654)", choices=SPLITS)
    val_fraction: float = _f(0.1, "share of the training split held out as validation, in contiguous blocks")
    limit: int | None = _f(None, "use the first N training images (default: all)")
    test_limit: int | None = _f(None, "use the first N test images (default: all)")
    pretrained: bool | str = _f(
        "auto",
        "true, false or auto (ImageNet if cached or downloadable, else scratch)",
        choices=("true", "false", "auto"),
    )
    init_from: str | None = _f(
        None,
        "start from the weights of this checkpoint (e.g. pretrained on the synthetic "
        "rooms), with a fresh optimiser; the results record it",
    )
    max_depth: float = _f(10.0, "metres; depth is normalised by it for training and the report's metrics")
    flip_tta: bool = _f(True, "horizontal-flip test-time augmentation in the standard protocol")
    eval_every: int | None = _f(
        None, "evaluate validation and test every K epochs (default: about 10 times a run; the last epoch always)"
    )
    precision: str = _f(
        "auto", "auto (bf16 autocast on CUDA and on CPUs with native bf16, else fp32), bf16, fp32", choices=PRECISIONS
    )
    device: str = _f("auto", "auto, cpu or cuda", choices=DEVICES)
    compile: bool = _f(False, "torch.compile the model (CUDA)")
    sync_bn: bool = _f(
        False, "under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm) instead of per process"
    )
    synth_count: int = _f(SYNTH_COUNT, "scenes in the synthetic set (with --data synthetic)")
    synth_size: tuple[int, int] = _f(SYNTH_SIZE, "HxW of the synthetic renders")
    extra: dict[str, Any] = _f(dict, "free-form tags kept with the results (profile, row title)", cli=False)

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model is required (python -m depthutils models lists them)")
        for f in dataclasses.fields(self):  # every number is finite: an inf learning rate is no setting
            v = getattr(self, f.name)
            for x in v if isinstance(v, (tuple, list)) else (v,):
                if isinstance(x, float) and not math.isfinite(x):
                    raise ValueError(f"{f.name} must be a finite number, got {v!r}")
        self.image_size = parse_size(self.image_size)
        self.synth_size = parse_size(self.synth_size)
        self.scale_aug = tuple(float(x) for x in self.scale_aug)  # type: ignore[assignment]
        self.pretrained = parse_pretrained(self.pretrained)
        if any(s % 32 for s in self.image_size):
            raise ValueError(f"image_size {self.image_size} must be multiples of 32 (e.g. 128 or 96x128)")
        for name in ("epochs", "limit", "test_limit", "eval_every"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer or unset (all), got {v!r}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (BatchNorm needs 2 images), got {self.batch_size}")
        if self.synth_count < 2:
            raise ValueError(f"synth_count must be at least 2, got {self.synth_count}")
        get_loss(self.loss)  # an unknown term or a bad weight is refused now, not after the data is loaded
        if not self.max_depth > 0:
            raise ValueError(f"max_depth must be positive (metres), got {self.max_depth}")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.warmup_epochs >= 0 and self.encoder_lr_scale > 0):
            raise ValueError(
                f"need lr > 0, weight_decay >= 0, warmup_epochs >= 0, encoder_lr_scale > 0; got {self.lr}, "
                f"{self.weight_decay}, {self.warmup_epochs}, {self.encoder_lr_scale}"
            )
        if not (0 <= self.cutdepth <= 1 and self.distill_weight >= 0):
            raise ValueError(
                f"need 0 <= cutdepth <= 1 and distill_weight >= 0; got {self.cutdepth}, {self.distill_weight}"
            )
        if not 0 <= self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in [0, 0.5), got {self.val_fraction}")
        lo, hi = self.scale_aug
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"scale_aug must satisfy 0 < lo <= hi <= 1, got {self.scale_aug}")
        for name, valid in (
            ("split", SPLITS),
            ("lr_schedule", SCHEDULES),
            ("optimizer", OPTIMIZERS),
            ("precision", PRECISIONS),
            ("device", DEVICES),
        ):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name} must be one of {', '.join(valid)}; got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("image_size", "synth_size", "scale_aug"):
            d[k] = list(getattr(self, k))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """A configuration from a dict (a run's ``config.json``, a checkpoint's, a profile's settings). An unknown
        key is an error naming the nearest valid one; keys a newer version added are simply absent from an old
        run's dict, so every checkpoint written so far still loads with their defaults."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            hints = []
            for k in unknown:
                near = [_SYNONYMS[k]] if k in _SYNONYMS else difflib.get_close_matches(k, names, n=1)
                hints.append(f"{k!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
            raise ValueError(
                f"unknown setting{'s' * (len(unknown) > 1)} {', '.join(hints)}; the settings are TrainConfig's "
                f"fields (python -m depthutils train --help lists them)"
            )
        return cls(**d)


def config_fields() -> list[dataclasses.Field]:
    """The fields of TrainConfig that are settings a user passes (the CLI and notebooks use these)."""
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli", True)]
