"""The seed's decoders on an ImageNet encoder: EfficientNet-Lite0 with the UNet decoder and with the
transposed-convolution decoder (v3); Lite1 and Lite2 with a UNet decoder trimmed to keep the model under 6 M
parameters ([ship-imagenet]'s ladder)."""

from __future__ import annotations

from ._registry import DepthModel, register
from .blocks import DepthHead
from .encoders import Encoder, PretrainedMode
from .resnete import ConcatSkipDecoder
from .unet import UNetDecoder


@register("lite0_unet", title="EfficientNet-Lite0 UNet", encoder="efficientnet_lite0")
class Lite0UNet(DepthModel):
    """The UNet decoder of "ResNet UNet" / "DenseNet UNet" on EfficientNet-Lite0 ([imagenet]).

    Implements: EfficientNet-Lite0 without its 1×1 head conv and classifier (strides 2, 4, 8, 16, 32: 16, 24, 40,
    112 and 320 channels); the seed's UNet decoder (a 1×1 intermediate conv, then four blocks of a bilinear ×2
    upsample, a concatenation with the encoder features at that stride and two conv-BN-ReLU); the head's 3×3 conv
    to one channel at stride 2, upsampled to the input size.
    Chosen: decoder width 1.0 (320, then 160, 80, 40, 20), not the 0.5 of the torchvision UNets: Lite0's last stage
    is 320 channels where DenseNet-121's is 1024, and half of it would leave 10 channels at stride 2.
    """

    family = "efficientnet_lite0"
    decoder_width = 1.0

    def __init__(self, *, pretrained: PretrainedMode = False, head: str = "relu") -> None:
        encoder = Encoder(self.family, pretrained=pretrained)
        decoder = UNetDecoder(encoder.channels, width=self.decoder_width)
        super().__init__(encoder, decoder, DepthHead(decoder.out_channels, activation=head))


@register("lite1_unet", title="EfficientNet-Lite1 UNet", encoder="efficientnet_lite1")
class Lite1UNet(Lite0UNet):
    """:class:`Lite0UNet` on EfficientNet-Lite1 (Lite0's widths, more blocks per stage).

    Chosen: decoder width 0.75 (240, 120, 60, 30, 15), so that the model stays under 6 M parameters (4.47 M) and
    its forward pass at 160×224 is no slower than nyu-regnet-unet's at 192×256 on the CPU."""

    family = "efficientnet_lite1"
    decoder_width = 0.75


@register("lite2_unet", title="EfficientNet-Lite2 UNet", encoder="efficientnet_lite2")
class Lite2UNet(Lite0UNet):
    """:class:`Lite0UNet` on EfficientNet-Lite2 (stride-8…32 stages of 48, 120 and 352 channels).

    Chosen: decoder width 0.5 (176, 88, 44, 22, 11): 4.82 M parameters, and a forward pass at 160×224 no slower
    than nyu-regnet-unet's at 192×256 on the CPU."""

    family = "efficientnet_lite2"
    decoder_width = 0.5


@register("lite0_decoder_v3", title="EfficientNet-Lite0, Decoder v3", encoder="efficientnet_lite0")
class Lite0DecoderV3(DepthModel):
    """The transposed-convolution decoder of "ResNetE Decoder v3" on EfficientNet-Lite0 ([imagenet]).

    Implements: the Lite0 encoder as in :class:`Lite0UNet`; five ConvTranspose2d ×2 + ReLU blocks (stride 32 → 1)
    with the encoder features concatenated after blocks 1–4 and the input image after block 5; three 3×3 convs.
    Chosen: the v3 decoder's widths (256, 128, 64, 64, 32) unchanged: only the skips' widths differ.
    """

    def __init__(self, *, pretrained: PretrainedMode = False, head: str = "relu") -> None:
        encoder = Encoder("efficientnet_lite0", pretrained=pretrained)
        decoder = ConcatSkipDecoder(encoder.channels)
        super().__init__(encoder, decoder, DepthHead(decoder.out_channels, activation=head))
