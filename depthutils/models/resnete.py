"""ResNetE Decoder v1 / v2 / v3: ResNet-34 encoder, transposed-convolution decoders with different skips."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import DepthModel, register
from .blocks import DepthHead, TransposeUp, UpResidual, check_input
from .encoders import Encoder, PretrainedMode

# Decoder widths at strides 16, 8, 4, 2, 1: equal to the ResNet-34 stage widths so skips can be summed.
_WIDTHS = (256, 128, 64, 64, 32)


class _ResNetEBase(DepthModel):
    """ResNet-34 encoder and five TransposeUp blocks (stride 32 → 1) with sum + BatchNorm encoder skips."""

    def __init__(self, pretrained: PretrainedMode, residuals: tuple[int, ...]):
        super().__init__(Encoder("resnet34", pretrained=pretrained))
        enc = self.encoder.channels  # [64, 64, 128, 256, 512] at strides 2…32
        cins = (enc[-1],) + _WIDTHS[:-1]
        self.blocks = nn.ModuleList(TransposeUp(ci, co) for ci, co in zip(cins, _WIDTHS))
        self.skip_bns = nn.ModuleList(nn.BatchNorm2d(c) for c in _WIDTHS[:4])  # after the sums at /16 … /2
        # decoder-internal residuals into block k (0-based) from the map before it: conv + upsample + ReLU
        self.residual_at = residuals
        self.residuals = nn.ModuleDict({str(k): UpResidual(cins[k], _WIDTHS[k], relu=True) for k in residuals})

    def decode(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns the last decoder map (N×32×H×W) and the last block's residual input (or None)."""
        y, last_res = feats[-1], None
        for k, block in enumerate(self.blocks):
            out = block(y)
            if str(k) in self.residuals:
                res = self.residuals[str(k)](y, out.shape[-2:])
                if k == len(self.blocks) - 1 and self.concat_last_residual:
                    last_res = res
                else:
                    out = out + res
            if k < 4:  # encoder skip at the same stride: sum + BatchNorm
                out = self.skip_bns[k](out + feats[3 - k])
            y = out
        return y, last_res

    concat_last_residual = False


@register("resnete_decoder_v1", title="ResNetE Decoder v1", encoder="resnet34")
class ResNetEDecoderV1(_ResNetEBase):
    """The report's "ResNetE Decoder v1".

    Implements: full ResNet-34 without its head; 5 decoder blocks, each ConvTranspose2d ×2 and a 3×3 conv, each
    followed by ReLU; an encoder→decoder skip after each encoder stage (strides 16, 8, 4, 2), merged by sum +
    BatchNorm; 3 decoder-internal residual connections (1×1 conv + bilinear upsample + ReLU) into blocks 3, 4 and
    5; final 3×3 conv, upsample to the input size, ReLU.
    Chosen: ConvTranspose2d(k=4, s=2, p=1); decoder widths equal the encoder's (256, 128, 64, 64) so the skips
    sum without projection, 32 at full resolution.
    """

    def __init__(self, *, pretrained: PretrainedMode = False):
        super().__init__(pretrained, residuals=(2, 3, 4))
        self.head = DepthHead(_WIDTHS[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        y, _ = self.decode(self.encoder(x))
        return self.head(y, x.shape[-2:])


@register("resnete_decoder_v2", title="ResNetE Decoder v2", encoder="resnet34")
class ResNetEDecoderV2(_ResNetEBase):
    """The report's "ResNetE Decoder v2": v1 with the decoder-internal skips removed except the last one,
    and a skip from the input image.

    Implements: encoder skips as in v1; the only decoder-internal skip left is the one from the last block
    (1×1 conv + bilinear upsample + ReLU of the map entering block 5, 16 channels at full resolution); the
    input image (3), that skip (16) and the decoder output (32) are concatenated and a final 3×3 conv + ReLU
    gives depth.
    """

    concat_last_residual = True

    def __init__(self, *, pretrained: PretrainedMode = False):
        super().__init__(pretrained, residuals=())
        self.residuals["4"] = UpResidual(_WIDTHS[3], 16, relu=True)
        self.head = DepthHead(3 + 16 + _WIDTHS[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        y, res = self.decode(self.encoder(x))
        return self.head(torch.cat([x, res, y], 1), x.shape[-2:])


@register("resnete_decoder_v3", title="ResNetE Decoder v3", encoder="resnet34")
class ResNetEDecoderV3(DepthModel):
    """The report's "ResNetE Decoder v3": every skip is a channel concatenation.

    Implements: ResNet-34 encoder; 5 decoder blocks of ConvTranspose2d ×2 + ReLU only (stride 32 → 1); after
    blocks 1–4 the encoder features at the same stride are concatenated, after block 5 the input image; the last
    block is three 3×3 convs (ReLU between them, ReLU at the end).
    Chosen: decoder widths 256, 128, 64, 64, 32; the three convs are 35 → 32 → 32 → 1.
    """

    def __init__(self, *, pretrained: PretrainedMode = False):
        super().__init__(Encoder("resnet34", pretrained=pretrained))
        enc = self.encoder.channels
        skips = (enc[3], enc[2], enc[1], enc[0], 3)  # concatenated after blocks 1…5
        cins = (enc[-1],) + tuple(w + s for w, s in zip(_WIDTHS[:-1], skips[:-1]))
        self.blocks = nn.ModuleList(TransposeUp(ci, co, conv=False) for ci, co in zip(cins, _WIDTHS))
        c = _WIDTHS[-1] + 3
        self.last = nn.Sequential(nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True))
        self.head = DepthHead(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        feats = self.encoder(x)
        y = feats[-1]
        for k, block in enumerate(self.blocks):
            y = block(y)
            skip = feats[3 - k] if k < 4 else x
            if y.shape[-2:] != skip.shape[-2:]:
                y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = torch.cat([y, skip], 1)
        return self.head(self.last(y), x.shape[-2:])
