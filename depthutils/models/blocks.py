"""Decoder building blocks shared by the architectures."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ConvBNReLU", "UpConcat", "UpResidual", "TransposeUp", "DepthHead", "check_input"]


def check_input(x: torch.Tensor, multiple: int = 32) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[-2] % multiple or x.shape[-1] % multiple:
        raise ValueError(
            f"expected N×3×H×W with H and W multiples of {multiple}, got {tuple(x.shape)}; "
            f"resize or pad the image (predict does this for you)"
        )


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3):
        super().__init__(
            nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )


class UpConcat(nn.Module):
    """UNet decoder block: bilinear ×2 to the skip's size, concat with the skip, two conv-BN-ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.convs = nn.Sequential(ConvBNReLU(cin + cskip, cout), ConvBNReLU(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.convs(torch.cat([x, skip], 1))


class UpResidual(nn.Module):
    """Decoder-internal skip: 1×1 conv to the target width, bilinear ×2 (optionally ReLU)."""

    def __init__(self, cin: int, cout: int, relu: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)
        self.relu = relu

    def forward(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        x = F.interpolate(self.conv(x), size=size, mode="bilinear", align_corners=False)
        return F.relu(x) if self.relu else x


class TransposeUp(nn.Sequential):
    """ConvTranspose2d ×2 + ReLU, optionally followed by a 3×3 conv + ReLU."""

    def __init__(self, cin: int, cout: int, conv: bool = True):
        layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
        if conv:
            layers += [nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class DepthHead(nn.Module):
    """3×3 conv to one channel, resize to the input size, then the output activation (depth ÷ max_depth):

    - ``relu`` (the report's): max(0, x). The bias starts at 0.3 (≈ 3 m / 10 m, a typical indoor depth) so that
      almost every pixel starts on the active side instead of half of them being dead at initialisation.
    - ``sigmoid``: sigmoid(x), in (0, 1) like the target, and never dead; the bias starts at logit(0.3).
    - ``exp``: exp(x), a log-depth head (never dead, multiplicative errors); the bias starts at log(0.3).
    """

    ACTIVATIONS = ("relu", "sigmoid", "exp")

    def __init__(self, cin: int, init_depth: float = 0.3, activation: str = "relu"):
        super().__init__()
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"head activation must be one of {', '.join(self.ACTIVATIONS)}, got {activation!r}")
        self.conv = nn.Conv2d(cin, 1, 3, padding=1)
        self.activation = activation
        bias = {"relu": init_depth, "sigmoid": math.log(init_depth / (1 - init_depth)), "exp": math.log(init_depth)}
        assert self.conv.bias is not None  # nn.Conv2d's default bias=True
        nn.init.constant_(self.conv.bias, bias[activation])

    def forward(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        x = self.conv(x)
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if self.activation == "sigmoid":
            return torch.sigmoid(x)
        if self.activation == "exp":
            return torch.exp(x.clamp(max=math.log(1.5)))  # at most 1.5 × max_depth: no overflow early in training
        return F.relu(x)
