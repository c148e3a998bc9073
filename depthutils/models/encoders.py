"""torchvision ResNet-34 / ResNet-50 / DenseNet-121 / RegNetX-400MF as multi-scale feature extractors, with
pretrained modes.

An encoder takes RGB N×3×H×W in [0, 1], applies ImageNet normalisation itself (so every caller feeds the same
[0, 1] images), and returns five feature maps at strides 2, 4, 8, 16 and 32.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal, Union

import torch
import torch.nn as nn
from torchvision import models as tvm

__all__ = ["Encoder", "PretrainedMode", "PretrainedWeightsError", "weights_file", "ENCODER_WEIGHTS"]

PretrainedMode = Union[bool, Literal["auto"]]  # noqa: UP007 (a runtime alias: `|` needs Python 3.10 objects)

#: family → torchvision weights enum member used for ImageNet initialisation.
ENCODER_WEIGHTS = {
    "resnet34": tvm.ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": tvm.ResNet50_Weights.IMAGENET1K_V1,
    "densenet121": tvm.DenseNet121_Weights.IMAGENET1K_V1,
    "regnet_x_400mf": tvm.RegNet_X_400MF_Weights.IMAGENET1K_V1,
}
_CTORS = {
    "resnet34": tvm.resnet34,
    "resnet50": tvm.resnet50,
    "densenet121": tvm.densenet121,
    "regnet_x_400mf": tvm.regnet_x_400mf,
}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class PretrainedWeightsError(RuntimeError):
    """``pretrained=True`` and the ImageNet weights can be neither loaded from the cache nor downloaded."""


def weights_file(family: str) -> Path:
    """Where torchvision looks for (and caches) the ImageNet weights: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    url = ENCODER_WEIGHTS[family].url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _load_torchvision(family: str, pretrained: PretrainedMode) -> tuple[nn.Module, str]:
    """The torchvision classification net and the mode actually used: ``'imagenet'`` or ``'scratch'``."""
    ctor = _CTORS[family]
    if pretrained is False:
        return ctor(weights=None), "scratch"
    if pretrained not in (True, "auto"):
        raise ValueError(f"pretrained must be True, False or 'auto', got {pretrained!r}")
    path = weights_file(family)
    try:
        # torchvision loads the cached file when present (no network), otherwise downloads it.
        return ctor(weights=ENCODER_WEIGHTS[family]), "imagenet"
    except Exception as e:  # URLError, OSError, hash/unpickling errors
        msg = (
            f"could not load ImageNet weights for {family}: {type(e).__name__}: {e}. "
            f"Offline? Download {ENCODER_WEIGHTS[family].url} and put it at {path} "
            f"(the folder is $TORCH_HOME/hub/checkpoints; TORCH_HOME={os.environ.get('TORCH_HOME', '~/.cache/torch')})."
        )
        if pretrained is True:
            raise PretrainedWeightsError(msg) from e
        warnings.warn(
            "\n" + "!" * 78 + f"\npretrained='auto': {msg}\nTRAINING THE {family.upper()} ENCODER FROM "
            "SCRATCH instead; results will say 'scratch'.\n" + "!" * 78,
            RuntimeWarning,
            stacklevel=3,
        )
        return ctor(weights=None), "scratch"


class Encoder(nn.Module):
    """Multi-scale features of a torchvision backbone.

    forward: N×3×H×W in [0, 1] → [f2, f4, f8, f16, f32], the features at strides 2…32 (``channels`` lists their
    widths). ``depth`` < 5 drops the deepest stages (DE NoSkip uses ResNet-50 without layer4).
    """

    def __init__(self, family: str, *, pretrained: PretrainedMode = False, depth: int = 5):
        super().__init__()
        if family not in _CTORS:
            raise ValueError(f"unknown encoder family {family!r}; valid: {sorted(_CTORS)}")
        net, used = _load_torchvision(family, pretrained)
        self.family, self.pretrained_used, self.depth = family, used, depth
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if family.startswith("resnet"):
            stages = [
                nn.Sequential(net.conv1, net.bn1, net.relu),  # /2
                nn.Sequential(net.maxpool, net.layer1),  # /4
                net.layer2,
                net.layer3,
                net.layer4,  # /8 /16 /32
            ]
            widths = [64] + [_out_ch(getattr(net, f"layer{i}")) for i in range(1, 5)]  # r34: 64…512, r50: 256…2048
        elif family == "regnet_x_400mf":  # the stem and the four stages; the classifier (0.4 M parameters) is dropped
            stages = [net.stem, *net.trunk_output]  # /2 … /32
            widths = [32, 32, 64, 160, 400]
        else:  # densenet121, DenseDepth's taps: relu0, pool0, transition1, transition2, norm5
            f = net.features
            stages = [
                nn.Sequential(f.conv0, f.norm0, f.relu0),  # /2, 64
                f.pool0,  # /4, 64
                nn.Sequential(f.denseblock1, f.transition1),  # /8, 128
                nn.Sequential(f.denseblock2, f.transition2),  # /16, 256
                nn.Sequential(f.denseblock3, f.transition3, f.denseblock4, f.norm5, nn.ReLU(inplace=True)),  # /32, 1024
            ]
            widths = [64, 64, 128, 256, 1024]
        self.stages = nn.ModuleList(stages[:depth])
        self.channels = widths[:depth]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def _out_ch(layer: nn.Sequential) -> int:
    block = layer[-1]
    last_bn = block.bn3 if hasattr(block, "bn3") else block.bn2
    return last_bn.num_features
