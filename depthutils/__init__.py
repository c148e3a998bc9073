"""depthutils: a re-runnable monocular depth estimation study (NYU-Depth V2, CNN encoder-decoders).

Public API (the notebooks use these):

    from depthutils import TrainConfig, load_dataset, build_model, fit, evaluate
"""

from . import data, losses, metrics, models, study
from ._version import __version__  # the one declaration (tests/test_packaging.py)
from .config import TrainConfig
from .data import DataError, load_dataset
from .engine import evaluate, train_step
from .models import build_model, list_models
from .run_folder import load_checkpoint, model_from_checkpoint


def __getattr__(name: str):
    """``depthutils.fit``, imported on first use: the orchestration layer (train.py) loads only for a caller that
    trains, so that nothing else in the package depends on it (tests/test_layout.py)."""
    if name == "fit":
        from .train import fit

        return fit
    raise AttributeError(f"module 'depthutils' has no attribute {name!r}")


__all__ = [
    "__version__",
    "data",
    "losses",
    "metrics",
    "models",
    "study",
    "TrainConfig",
    "DataError",
    "load_dataset",
    "build_model",
    "list_models",
    "evaluate",
    "train_step",
    "fit",
    "load_checkpoint",
    "model_from_checkpoint",
]
