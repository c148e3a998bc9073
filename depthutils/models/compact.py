"""A compact encoder-decoder for CPUs: RegNetX-400MF features and a light UNet decoder."""

from __future__ import annotations

import torch
import torch.nn as nn

from ._registry import DepthModel, register
from .blocks import DepthHead, UpConcat
from .encoders import Encoder, PretrainedMode

#: Decoder widths after the blocks at strides 16, 8, 4, 2 (the 1×1 intermediate conv gives the first).
_WIDTHS = (128, 96, 64, 32, 16)


class LightUNetDecoder(nn.Module):
    """1×1 conv of the deepest features to ``widths[0]`` → 4 UpConcat blocks (strides 32 → 2) of fixed, small
    widths. Returns N×widths[-1]×H/2×W/2 (the head upsamples).

    Unlike :class:`~depthutils.models.unet.UNetDecoder`, whose widths follow the encoder's (512 … 32 on
    DenseNet-121), the widths here are fixed and narrow: on RegNetX-400MF the decoder then holds about 0.6 M
    parameters, and its stride-2 block (the costliest per channel: it runs at a quarter of the input's pixels)
    sees only 32 + 32 channels and gives 16.
    """

    def __init__(self, enc_channels: list[int], *, widths: tuple[int, ...] = _WIDTHS):
        super().__init__()
        self.mid = nn.Conv2d(enc_channels[-1], widths[0], 1)
        skips = list(reversed(enc_channels[:-1]))  # strides 16, 8, 4, 2
        self.blocks = nn.ModuleList(UpConcat(ci, cs, co) for ci, cs, co in zip(widths[:-1], skips, widths[1:]))
        self.out_channels = widths[-1]

    def forward(self, feats: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        y = self.mid(feats[-1])
        for block, skip in zip(self.blocks, reversed(feats[:-1])):
            y = block(y, skip)
        return y


@register("regnet_unet", title="RegNet UNet", encoder="regnet_x_400mf")
class RegNetUNet(DepthModel):
    """The compact model ([compact]): RegNetX-400MF encoder, light UNet decoder, 5.66 M parameters.

    Implements: torchvision's RegNetX-400MF stem and four stages without the classifier (strides 2, 4, 8, 16, 32:
    32, 32, 64, 160 and 400 channels); a 1×1 conv to 128 channels; four decoder blocks, each a bilinear ×2
    upsample, a concatenation with the encoder features at that stride and two conv-BN-ReLU (96, 64, 32, 16
    channels); the head's 3×3 conv to one channel at stride 2, upsampled to the input size.
    Chosen: RegNetX-400MF over MobileNetV3-Large, MNASNet and EfficientNet-B0, whose depthwise convolutions made
    a bf16 training step on the 2-core CPU 3-5× slower at the same size (docs/CHOICES.md); the widths keep the
    whole model under the 6 M parameter budget.
    """

    def __init__(self, *, pretrained: PretrainedMode = False, head: str = "relu"):
        encoder = Encoder("regnet_x_400mf", pretrained=pretrained)
        decoder = LightUNetDecoder(encoder.channels)
        super().__init__(encoder, decoder, DepthHead(decoder.out_channels, activation=head))
