"""Session hygiene for both test trees (tests/ and nbval's notebooks/): the suite leaves nothing in the repository.

The committed notebooks write their outputs to ``runs/nbval`` (the smoke rows, 08's figures) and ``runs/demo``
(09's point clouds) by default, relative to notebooks/; nbval executes them there. Those folders are scratch of
the test run and are removed when a session that executed notebook cells ends (about 3 GB of checkpoints otherwise
stay behind). A session that ran no notebook leaves them alone: a notebook being executed by hand at the same time
keeps its run folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent
SCRATCH = (_ROOT / "runs" / "nbval", _ROOT / "runs" / "demo")
_ran_notebooks = False


def pytest_runtest_setup(item):
    global _ran_notebooks
    _ran_notebooks = _ran_notebooks or item.path.suffix == ".ipynb"


def pytest_sessionfinish(session, exitstatus):
    if not _ran_notebooks:
        return
    for path in SCRATCH:
        shutil.rmtree(path, ignore_errors=True)
    runs = _ROOT / "runs"
    if runs.is_dir() and not any(runs.iterdir()):
        runs.rmdir()


def pytest_collection_modifyitems(config, items):
    """nbval's notebook cells are ``slow`` (a notebook cannot carry a marker): ``pytest -m "not slow"`` skips them."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
