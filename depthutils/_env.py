"""Private: what ran where: versions, git commit, device name. Plain types only (they go into checkpoints)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

_CODE = ("depthutils", "notebooks", "tools", "report/scripts", "pyproject.toml", "requirements.lock")


#: Where the code travels as a copy of a working tree (to a GPU machine), the sending checkout names its commit here
#: (report/scripts/gpu_session.sh), and it wins: the copy's own .git, if it has one, may be stale (on the device tool's
#: machine it named the session's first commit, not the one sent).
COMMIT_ENV = "DEPTHUTILS_GIT_COMMIT"


def git_commit() -> str:
    named = os.environ.get(COMMIT_ENV, "").strip()
    if named:
        return named
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        sha = out.stdout.strip()
        if not sha:
            return "unknown"
        # "-dirty" only when the code that produces results differs from the commit: the pipeline's own
        # outputs (results/, figures/, report/) are rewritten by every run and must not count.
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", *_CODE],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    import numpy
    import torchvision

    from ._version import __version__

    # str(): torch.__version__ is a TorchVersion, which weights_only=True loading (rightly) refuses to unpickle
    return {
        "depthutils": str(__version__),
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "numpy": str(numpy.__version__),
        "python": platform.python_version(),
    }


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: this machine has no CUDA GPU that PyTorch can use; use --device cpu (or auto)")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
