"""Model registry and factory: ``build_model(name, *, pretrained=...)``."""

from . import compact, lite, noskip, resnete, unet  # noqa: F401  (registers the architectures)
from ._registry import DepthModel, ModelSpec, build_model, get_spec, list_models
from .encoders import ENCODER_WEIGHTS, Encoder, PretrainedMode, weights_file
from .summary import summary, summary_markdown
from .weights import DEFAULT_WEIGHTS, Weights, WeightsError, get_weights, list_weights

__all__ = [
    "DepthModel",
    "ModelSpec",
    "build_model",
    "get_spec",
    "list_models",
    "Encoder",
    "PretrainedMode",
    "ENCODER_WEIGHTS",
    "weights_file",
    "summary",
    "summary_markdown",
    "Weights",
    "WeightsError",
    "DEFAULT_WEIGHTS",
    "get_weights",
    "list_weights",
]
