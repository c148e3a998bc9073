"""ResNetE Decoder v1 / v2 / v3: ResNet-34 encoder, transposed-convolution decoders with different skips."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import DepthModel, register
from .blocks import DepthHead, TransposeUp, UpResidual
from .encoders import Encoder, PretrainedMode

# Decoder widths at strides 16, 8, 4, 2, 1: equal to the ResNet-34 stage widths so skips can be summed.
_WIDTHS = (256, 128, 64, 64, 32)


class SumSkipDecoder(nn.Module):
    """Five TransposeUp blocks (stride 32 → 1) with sum + BatchNorm encoder skips after blocks 1–4.

    ``residuals``: blocks (0-based) that also receive a decoder-internal residual from the map entering them
    (1×1 conv + bilinear upsample + ReLU), added to their output. ``image_residual``: instead, the last block's
    residual has this many channels and is *concatenated* with the input image and the decoder output
    (v2): the decoder then returns N×(3 + image_residual + 32)×H×W, else N×32×H×W.
    """

    def __init__(
        self,
        enc_channels: list[int],
        *,
        residuals: tuple[int, ...] = (),
        image_residual: int = 0,
        widths: tuple[int, ...] = _WIDTHS,
    ):
        super().__init__()
        cins = (enc_channels[-1],) + widths[:-1]
        self.blocks = nn.ModuleList(TransposeUp(ci, co) for ci, co in zip(cins, widths))
        self.skip_bns = nn.ModuleList(nn.BatchNorm2d(c) for c in widths[:4])  # after the sums at /16 … /2
        self.residuals = nn.ModuleDict({str(k): UpResidual(cins[k], widths[k], relu=True) for k in residuals})
        self.image_residual = image_residual
        if image_residual:
            self.residuals[str(len(widths) - 1)] = UpResidual(cins[-1], image_residual, relu=True)
        self.out_channels = widths[-1] + (3 + image_residual if image_residual else 0)

    def forward(self, feats: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        y, last_res = feats[-1], None
        for k, block in enumerate(self.blocks):
            out = block(y)
            if str(k) in self.residuals:
                res = self.residuals[str(k)](y, out.shape[-2:])
                if self.image_residual and k == len(self.blocks) - 1:
                    last_res = res
                else:
                    out = out + res
            if k < 4:  # encoder skip at the same stride: sum + BatchNorm
                out = self.skip_bns[k](out + feats[3 - k])
            y = out
        # with image_residual, the last block has a residual (see __init__), so last_res is set
        return torch.cat([image, cast(torch.Tensor, last_res), y], 1) if self.image_residual else y


class ConcatSkipDecoder(nn.Module):
    """Five TransposeUp blocks without convs (stride 32 → 1); after blocks 1–4 the encoder features at the same
    stride are concatenated, after block 5 the input image; then two 3×3 conv + ReLU. Returns N×32×H×W."""

    def __init__(self, enc_channels: list[int], *, widths: tuple[int, ...] = _WIDTHS):
        super().__init__()
        skips = (enc_channels[3], enc_channels[2], enc_channels[1], enc_channels[0], 3)
        cins = (enc_channels[-1],) + tuple(w + s for w, s in zip(widths[:-1], skips[:-1]))
        self.blocks = nn.ModuleList(TransposeUp(ci, co, conv=False) for ci, co in zip(cins, widths))
        c = widths[-1] + 3
        self.last = nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.out_channels = 32

    def forward(self, feats: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        y = feats[-1]
        for k, block in enumerate(self.blocks):
            y = block(y)
            skip = feats[3 - k] if k < 4 else image
            if y.shape[-2:] != skip.shape[-2:]:
                y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = torch.cat([y, skip], 1)
        return self.last(y)


def _resnete(decoder_cls, pretrained: PretrainedMode, head: str, **decoder_args) -> tuple:
    encoder = Encoder("resnet34", pretrained=pretrained)
    decoder = decoder_cls(encoder.channels, **decoder_args)
    return encoder, decoder, DepthHead(decoder.out_channels, activation=head)


@register("resnete_decoder_v1", title="ResNetE Decoder v1", encoder="resnet34")
class ResNetEDecoderV1(DepthModel):
    """The report's "ResNetE Decoder v1".

    Implements: full ResNet-34 without its head; 5 decoder blocks, each ConvTranspose2d ×2 and a 3×3 conv, each
    followed by ReLU; an encoder→decoder skip after each encoder stage (strides 16, 8, 4, 2), merged by sum +
    BatchNorm; 3 decoder-internal residual connections (1×1 conv + bilinear upsample + ReLU) into blocks 3, 4 and
    5; final 3×3 conv, upsample to the input size, ReLU.
    Chosen: ConvTranspose2d(k=4, s=2, p=1); decoder widths equal the encoder's (256, 128, 64, 64) so the skips
    sum without projection, 32 at full resolution.
    """

    def __init__(self, *, pretrained: PretrainedMode = False, head: str = "relu"):
        super().__init__(*_resnete(SumSkipDecoder, pretrained, head, residuals=(2, 3, 4)))


@register("resnete_decoder_v2", title="ResNetE Decoder v2", encoder="resnet34")
class ResNetEDecoderV2(DepthModel):
    """The report's "ResNetE Decoder v2": v1 with the decoder-internal skips removed except the last one,
    and a skip from the input image.

    Implements: encoder skips as in v1; the only decoder-internal skip left is the one from the last block
    (1×1 conv + bilinear upsample + ReLU of the map entering block 5, 16 channels at full resolution); the
    input image (3), that skip (16) and the decoder output (32) are concatenated and a final 3×3 conv + ReLU
    gives depth.
    """

    def __init__(self, *, pretrained: PretrainedMode = False, head: str = "relu"):
        super().__init__(*_resnete(SumSkipDecoder, pretrained, head, image_residual=16))


@register("resnete_decoder_v3", title="ResNetE Decoder v3", encoder="resnet34")
class ResNetEDecoderV3(DepthModel):
    """The report's "ResNetE Decoder v3": every skip is a channel concatenation.

    Implements: ResNet-34 encoder; 5 decoder blocks of ConvTranspose2d ×2 + ReLU only (stride 32 → 1); after
    blocks 1–4 the encoder features at the same stride are concatenated, after block 5 the input image; the last
    block is three 3×3 convs (ReLU between them, ReLU at the end).
    Chosen: decoder widths 256, 128, 64, 64, 32; the three convs are 35 → 32 → 32 → 1.
    """

    def __init__(self, *, pretrained: PretrainedMode = False, head: str = "relu"):
        super().__init__(*_resnete(ConcatSkipDecoder, pretrained, head))
