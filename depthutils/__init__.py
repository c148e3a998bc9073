"""depthutils: a re-runnable monocular depth estimation study (NYU-Depth V2, CNN encoder-decoders).

Public API (the notebooks use these):

    from depthutils import load_dataset, build_model, TrainConfig, fit, evaluate
"""
__version__ = "0.1.0"

from . import data, losses, metrics, models  # noqa: E402
from .config import REPORT_EPOCHS, REPORT_ROWS, TrainConfig  # noqa: E402
from .data import DataError, load_dataset  # noqa: E402
from .models import build_model, list_models  # noqa: E402
from .train import evaluate, fit, load_checkpoint, model_from_checkpoint  # noqa: E402

__all__ = [
    "__version__", "data", "losses", "metrics", "models",
    "REPORT_EPOCHS", "REPORT_ROWS", "TrainConfig", "DataError", "load_dataset", "build_model", "list_models",
    "evaluate", "fit", "load_checkpoint", "model_from_checkpoint",
]
