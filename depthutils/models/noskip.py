"""DE NoSkip: a plain encoder-decoder with no encoder→decoder skips."""

from __future__ import annotations

import torch
import torch.nn as nn

from ._registry import DepthModel, register
from .blocks import DepthHead, UpResidual
from .encoders import Encoder, PretrainedMode


class NoSkipDecoder(nn.Module):
    """Bottleneck conv + BN + ReLU (→ 512), then blocks of bilinear ×2 + 3×3 conv + ReLU; decoder-internal skips
    (1×1 conv of the previous map, upsampled, added, then BatchNorm) into every block but the first. Only the
    deepest encoder feature is used. Returns N×widths[-1]×H×W for a stride-16 code."""

    def __init__(self, enc_channels: list[int], *, widths: tuple[int, ...] = (256, 128, 64, 32)):
        super().__init__()
        c = enc_channels[-1]  # 1024
        self.bottleneck = nn.Sequential(
            nn.Conv2d(c, 512, 3, padding=1, bias=False), nn.BatchNorm2d(512), nn.ReLU(inplace=True)
        )
        cins = (512,) + widths[:-1]
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(ci, co, 3, padding=1),
                nn.ReLU(inplace=True),
            )
            for ci, co in zip(cins, widths)
        )
        self.skips = nn.ModuleList(UpResidual(ci, co) for ci, co in zip(cins[1:], widths[1:]))  # blocks 2–4
        self.skip_bns = nn.ModuleList(nn.BatchNorm2d(co) for co in widths[1:])
        self.out_channels = widths[-1]

    def forward(self, feats: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        y = self.bottleneck(feats[-1])  # N×512×H/16×W/16
        y = self.blocks[0](y)
        for block, skip, bn in zip(self.blocks[1:], self.skips, self.skip_bns):
            out = block(y)
            y = bn(out + skip(y, out.shape[-2:]))
        return y


@register("de_noskip", title="DE NoSkip", encoder="resnet50 (no layer4)")
class DENoSkip(DepthModel):
    """The report's "DE NoSkip".

    Implements: ResNet-50 without its head and without the last residual stage (layer4), so the code is
    1024 channels at stride 16; a bottleneck conv + BatchNorm; 4 decoder blocks of bilinear ×2 upsample, 3×3 conv
    and ReLU (stride 16 → 1); 3 decoder-internal skips into blocks 2–4, each a 1×1 conv of the previous decoder
    map, bilinearly upsampled, added to the block's output and followed by BatchNorm; output 3×3 conv + ReLU.
    Chosen where the report is vague: bottleneck 3×3, 1024 → 512 channels, then a ReLU; decoder widths
    512 → 256 → 128 → 64 → 32.
    """

    def __init__(
        self, *, pretrained: PretrainedMode = False, widths: tuple[int, ...] = (256, 128, 64, 32), head: str = "relu"
    ):
        encoder = Encoder("resnet50", pretrained=pretrained, depth=4)
        decoder = NoSkipDecoder(encoder.channels, widths=widths)
        super().__init__(encoder, decoder, DepthHead(decoder.out_channels, activation=head))
