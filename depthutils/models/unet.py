"""UNet decoders (DenseDepth-style) on DenseNet-121 and ResNet-50 encoders."""

from __future__ import annotations

import torch
import torch.nn as nn

from ._registry import DepthModel, register
from .blocks import DepthHead, UpConcat
from .encoders import Encoder, PretrainedMode


class UNetDecoder(nn.Module):
    """1×1 intermediate conv → 4 UpConcat blocks (strides 32 → 2). Returns N×C×H/2×W/2 (the head upsamples).

    The intermediate conv scales the encoder width by ``width`` (0.5); each block halves it again, as in
    DenseDepth's decoder but with BatchNorm + ReLU (the report) instead of LeakyReLU.
    """

    def __init__(self, enc_channels: list[int], *, width: float = 0.5):
        super().__init__()
        c = int(enc_channels[-1] * width)
        self.mid = nn.Conv2d(enc_channels[-1], c, 1)
        blocks = []
        for skip_c in reversed(enc_channels[:-1]):  # strides 16, 8, 4, 2
            blocks.append(UpConcat(c, skip_c, c // 2))
            c //= 2
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = c

    def forward(self, feats: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        y = self.mid(feats[-1])
        for block, skip in zip(self.blocks, reversed(feats[:-1])):
            y = block(y, skip)
        return y


def _unet(family: str, pretrained: PretrainedMode, width: float, head: str) -> tuple:
    encoder = Encoder(family, pretrained=pretrained)
    decoder = UNetDecoder(encoder.channels, width=width)
    return encoder, decoder, DepthHead(decoder.out_channels, activation=head)


@register("densenet_unet", title="DenseNet UNet", encoder="densenet121")
class DenseNetUNet(DepthModel):
    """The report's "DenseNet UNet".

    Implements: DenseNet-121 features (1024 channels at stride 32) followed by an intermediate 1×1 conv; a
    decoder of 4 blocks, each a bilinear ×2 upsample, a concatenation with the encoder features at that stride
    and two conv-BN-ReLU; a final conv to 1 channel.
    Chosen: DenseDepth's skip taps (relu0, pool0, transition1, transition2); intermediate width 512, then
    256, 128, 64, 32; the stride-2 output is bilinearly upsampled to the input size and passed through ReLU.
    """

    def __init__(self, *, pretrained: PretrainedMode = False, decoder_width: float = 0.5, head: str = "relu"):
        super().__init__(*_unet("densenet121", pretrained, decoder_width, head))


@register("resnet_unet", title="ResNet UNet", encoder="resnet50")
class ResNetUNet(DepthModel):
    """The report's "ResNet UNet": the DenseNet UNet decoder on the full ResNet-50 encoder (2048 channels).

    Chosen: skip taps after the stem ReLU and layers 1–3 (64, 256, 512, 1024 channels); intermediate width 1024,
    then 512, 256, 128, 64.
    """

    def __init__(self, *, pretrained: PretrainedMode = False, decoder_width: float = 0.5, head: str = "relu"):
        super().__init__(*_unet("resnet50", pretrained, decoder_width, head))
