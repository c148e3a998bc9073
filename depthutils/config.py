"""Training settings as one dataclass, and the report's schedules as named presets."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TrainConfig", "REPORT_EPOCHS", "REPORT_ROWS", "parse_pretrained", "parse_size"]

#: The report's schedules (epochs) per architecture.
REPORT_EPOCHS = {
    "resnete_decoder_v1": 50, "resnete_decoder_v2": 25, "resnete_decoder_v3": 50,
    "resnet_unet": 50, "de_noskip": 50, "densenet_unet": 100,
}

#: The rows of the report's table (its Figure 2): (row title, model, loss, epochs, printed L1, printed MSE).
REPORT_ROWS = [
    ("ResNetE Decoder v1", "resnete_decoder_v1", "l1", 50, 0.0939, 0.0194),
    ("ResNetE Decoder v2", "resnete_decoder_v2", "l1", 25, 0.0976, 0.0190),
    ("ResNetE Decoder v3", "resnete_decoder_v3", "l1", 50, 0.1006, 0.0207),
    ("ResNet UNet, L1 loss", "resnet_unet", "l1", 50, 0.0845, 0.0171),
    ("ResNet UNet, BerHu", "resnet_unet", "berhu", 50, 0.0878, 0.0175),
    ("ResNet UNet, SSIM+L1", "resnet_unet", "ssim_l1", 50, 0.1231, 0.0299),
    ("DE NoSkip", "de_noskip", "l1", 50, 0.0891, 0.0179),
    ("DenseNet UNet", "densenet_unet", "l1", 100, 0.0972, 0.0234),
]


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
    """128 → (128, 128); '96x128' or (96, 128) → (H, W)."""
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[1]))
    s = str(v).lower()
    if "x" in s:
        h, w = s.split("x")
        return (int(h), int(w))
    return (int(s), int(s))


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as ``config.json`` and inside every checkpoint."""

    model: str
    data: str = "synthetic"  # 'synthetic', a .mat file or an RGB-D folder
    epochs: int | None = None  # None → the report's preset for the model
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.0
    loss: str = "l1"  # a name from depthutils.losses or a sum like 'silog+0.5*gradient'
    image_size: tuple[int, int] = (128, 128)  # (H, W), multiples of 32
    seed: int = 0
    split: str = "report"  # 'report' (1111/338) or 'official' (795/654)
    limit: int | None = None  # first N training images
    test_limit: int | None = None  # first N test images
    pretrained: bool | str = "auto"
    max_depth: float = 10.0  # metres; depth is normalised by it for training and the report's metrics
    lr_schedule: str = "constant"  # 'constant' or 'cosine'
    flip_tta: bool = False  # horizontal-flip test-time augmentation in the final evaluation
    device: str = "auto"  # 'auto', 'cpu' or 'cuda'
    compile: bool = False  # torch.compile the model (CUDA)
    synth_count: int = 1449
    synth_size: tuple[int, int] = (256, 192)  # (W, H) of the synthetic renders
    extra: dict[str, Any] = field(default_factory=dict)  # free-form tags (profile, row title) kept with results

    def __post_init__(self) -> None:
        self.image_size = parse_size(self.image_size)
        self.synth_size = tuple(int(x) for x in self.synth_size)  # type: ignore[assignment]
        self.pretrained = parse_pretrained(self.pretrained)
        if self.epochs is None:
            self.epochs = REPORT_EPOCHS.get(self.model, 50)
        if any(s % 32 for s in self.image_size):
            raise ValueError(f"image_size {self.image_size} must be multiples of 32")
        if self.split not in ("report", "official"):
            raise ValueError(f"split must be 'report' or 'official', got {self.split!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        d["synth_size"] = list(self.synth_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
