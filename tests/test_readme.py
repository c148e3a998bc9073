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


def test_readme_generated_blocks_match_the_committed_study_and_weights():
    tool = _tool()
    readme = (ROOT / "README.md").read_text()
    assert tool.generated(readme) == readme, "stale: run python tools/readme_results.py"


def test_zoo_block_has_a_row_per_shipped_model_with_its_card_numbers():
    from depthutils.models import get_weights, list_weights

    tool = _tool()
    zoo = tool.zoo_block()
    assert list_weights(), "no shipped weights"
    for name in list_weights():
        m = get_weights(name).meta["metrics"]["standard"]
        row = next(line for line in zoo.splitlines() if line.startswith(f"| `{name}`"))
        assert f"{m['delta1']:.3f} [{m['ci95']['delta1'][0]:.3f}, {m['ci95']['delta1'][1]:.3f}]" in row


def test_splice_replaces_only_the_block_and_needs_its_markers():
    tool = _tool()
    text = f"intro\n{tool.BEGIN.format(tag='t')}\nold\n{tool.END}\noutro\n"
    assert tool.splice(text, "NEW") == "intro\nNEW\noutro\n"
    with pytest.raises(SystemExit, match="no '<!-- results:begin"):
        tool.splice("intro only\n", "NEW")
