"""The README's results block is what tools/readme_results.py writes from the committed study (never stale)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("readme_results", ROOT / "tools" / "readme_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_results_block_matches_the_committed_study():
    tool = _tool()
    readme = (ROOT / "README.md").read_text()
    assert tool.splice(readme, tool.block()) == readme, "stale: run python tools/readme_results.py"


def test_splice_replaces_only_the_block_and_needs_its_markers():
    tool = _tool()
    text = f"intro\n{tool.BEGIN.format(tag='t')}\nold\n{tool.END}\noutro\n"
    assert tool.splice(text, "NEW") == "intro\nNEW\noutro\n"
    with pytest.raises(SystemExit, match="no '<!-- results:begin"):
        tool.splice("intro only\n", "NEW")
