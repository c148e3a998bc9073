"""Inference-only rewrites of a trained model: BatchNorm folded into the convolution that feeds it.

In eval mode a BatchNorm after a convolution is a per-channel affine map, so it can be merged into the
convolution's weights and bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``): the same function, one pass over
the feature map fewer. On the 2-core CPU the BatchNorms were 12% of the RegNet UNet's predict time (torch
profiler, fp32, 192×256, flip TTA) and its outputs change by about 1e-6 relative. Evaluation (``evaluate``, the
model cards' numbers) runs the model as trained; ``predict``, the demo and ``bench``'s predict timings run it
folded.
"""

from __future__ import annotations

import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.models.resnet import BasicBlock, Bottleneck

__all__ = ["fold_batchnorm"]


#: timm's EfficientNet blocks apply these (conv, BatchNorm) pairs in turn in their ``forward`` (timm 1.0).
_TIMM_PAIRS = {
    "InvertedResidual": (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")),
    "DepthwiseSeparableConv": (("conv_dw", "bn1"), ("conv_pw", "bn2")),
}


def _pairs(model: nn.Module):
    """(parent, conv name, bn name) of every Conv2d → BatchNorm2d whose BatchNorm reads only that conv's output:
    adjacent items of an ``nn.Sequential`` (conv-BN-ReLU blocks, torchvision's RegNet, DenseNet's stem,
    ResNet's downsample, the EfficientNet-Lite stem), ``conv{i}``/``bn{i}`` of torchvision's ResNet blocks, and
    the pairs of timm's EfficientNet blocks (``_TIMM_PAIRS``; without a space-to-depth stem, which Lite has not),
    whose ``forward`` applies them in turn. A Sequential subclass with its own ``forward`` is skipped. DenseNet's
    layers are BN → ReLU → conv (the BatchNorm reads the concatenated features): not folded."""
    for parent in model.modules():
        if isinstance(parent, nn.Sequential) and type(parent).forward is nn.Sequential.forward:
            names = list(parent._modules)
            for a, b in zip(names, names[1:]):
                yield parent, a, b
        elif type(parent) in (BasicBlock, Bottleneck):  # exactly these: a subclass may apply them otherwise
            for i in (1, 2, 3):
                if hasattr(parent, f"conv{i}"):
                    yield parent, f"conv{i}", f"bn{i}"
        elif _timm_block(parent) and getattr(parent, "conv_s2d", None) is None:
            yield from ((parent, c, b) for c, b in _TIMM_PAIRS[type(parent).__name__])


def _timm_block(m: nn.Module) -> bool:
    return type(m).__module__ == "timm.models._efficientnet_blocks" and type(m).__name__ in _TIMM_PAIRS


def _foldable_bn(bn: nn.Module) -> bool:
    """A plain BatchNorm2d, or timm's BatchNormAct2d (BatchNorm, then an activation: folded, the activation stays)."""
    if type(bn) is nn.BatchNorm2d:
        return True
    return type(bn).__name__ == "BatchNormAct2d" and type(bn).__module__.startswith("timm.layers")


def fold_batchnorm(model: nn.Module) -> int:
    """Fold, in place, every BatchNorm2d that directly follows a Conv2d (see ``_pairs``) into that Conv2d, and
    put an ``nn.Identity`` in its place. ``model`` must be in eval mode (a training BatchNorm normalises with the
    batch's statistics, which cannot be folded). Returns how many were folded."""
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (call model.eval() first)")
    n = 0
    for parent, conv_name, bn_name in list(_pairs(model)):
        conv, bn = parent._modules[conv_name], parent._modules[bn_name]
        is_conv = type(conv) is nn.Conv2d or type(conv).__name__ == "Conv2dSame"  # timm's TF "same" padding
        if is_conv and _foldable_bn(bn) and bn.track_running_stats:
            parent._modules[conv_name] = fuse_conv_bn_eval(conv, bn)
            # BatchNormAct2d: what is left of it is its activation (ReLU6 in Lite; drop is an Identity in eval)
            parent._modules[bn_name] = (
                nn.Sequential(bn.drop, bn.act) if type(bn) is not nn.BatchNorm2d else nn.Identity()
            )
            n += 1
    return n
