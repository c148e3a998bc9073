"""Session hygiene for both test trees (tests/ and nbval's notebooks/): the suite leaves nothing in the repository.

The committed notebooks write their outputs to ``runs/nbval`` (the smoke rows, 08's figures) and ``runs/demo``
(09's point clouds) by default, relative to notebooks/; nbval executes them there. Those folders are scratch of
the test run and are removed when the session ends (about 3 GB of checkpoints otherwise stay behind).
"""

from __future__ import annotations

import shutil
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
SCRATCH = (_ROOT / "runs" / "nbval", _ROOT / "runs" / "demo")


def pytest_sessionfinish(session, exitstatus):
    for path in SCRATCH:
        shutil.rmtree(path, ignore_errors=True)
    runs = _ROOT / "runs"
    if runs.is_dir() and not any(runs.iterdir()):
        runs.rmdir()
