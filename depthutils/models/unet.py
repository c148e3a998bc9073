"""UNet decoders (DenseDepth-style) on DenseNet-121 and ResNet-50 encoders."""
from __future__ import annotations

import torch
import torch.nn as nn

from ._registry import DepthModel, register
from .blocks import DepthHead, UpConcat, check_input
from .encoders import Encoder, PretrainedMode


class _UNet(DepthModel):
    """Encoder → 1×1 intermediate conv → 4 UpConcat blocks (strides 32 → 2) → 3×3 conv → ×2 upsample → ReLU.

    The intermediate conv halves the encoder width (``decoder_width`` = 0.5); each block halves it again, as in
    DenseDepth's decoder but with BatchNorm + ReLU (the report) instead of LeakyReLU.
    """

    def __init__(self, family: str, pretrained: PretrainedMode, decoder_width: float = 0.5):
        super().__init__(Encoder(family, pretrained=pretrained))
        enc = self.encoder.channels
        c = int(enc[-1] * decoder_width)
        self.mid = nn.Conv2d(enc[-1], c, 1)
        blocks = []
        for skip_c in reversed(enc[:-1]):  # strides 16, 8, 4, 2
            blocks.append(UpConcat(c, skip_c, c // 2))
            c //= 2
        self.blocks = nn.ModuleList(blocks)
        self.head = DepthHead(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        feats = self.encoder(x)
        y = self.mid(feats[-1])
        for block, skip in zip(self.blocks, reversed(feats[:-1])):
            y = block(y, skip)
        return self.head(y, x.shape[-2:])


@register("densenet_unet", title="DenseNet UNet", encoder="densenet121")
class DenseNetUNet(_UNet):
    """The report's "DenseNet UNet".

    Implements: DenseNet-121 features (1024 channels at stride 32) followed by an intermediate 1×1 conv; a
    decoder of 4 blocks, each a bilinear ×2 upsample, a concatenation with the encoder features at that stride
    and two conv-BN-ReLU; a final conv to 1 channel.
    Chosen: DenseDepth's skip taps (relu0, pool0, transition1, transition2); intermediate width 512, then
    256, 128, 64, 32; the stride-2 output is bilinearly upsampled to the input size and passed through ReLU.
    """

    def __init__(self, *, pretrained: PretrainedMode = False, decoder_width: float = 0.5):
        super().__init__("densenet121", pretrained, decoder_width)


@register("resnet_unet", title="ResNet UNet", encoder="resnet50")
class ResNetUNet(_UNet):
    """The report's "ResNet UNet": the DenseNet UNet decoder on the full ResNet-50 encoder (2048 channels).

    Chosen: skip taps after the stem ReLU and layers 1–3 (64, 256, 512, 1024 channels); intermediate width 1024,
    then 512, 256, 128, 64.
    """

    def __init__(self, *, pretrained: PretrainedMode = False, decoder_width: float = 0.5):
        super().__init__("resnet50", pretrained, decoder_width)
