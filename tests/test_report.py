"""The write-up quotes only numbers that the code produced: every value with an interval in report/README.md
appears, as written, in a generated table under report/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: A value with its interval, as the generated tables write them: "0.519 [0.503, 0.535]" or "+0.015 [+0.004, +0.027]".
QUOTE = re.compile(r"[+-]?\d+\.\d+ \[[+-]?\d+\.\d+, [+-]?\d+\.\d+\]")


def unsourced(text: str, sources: str) -> list[str]:
    """The quoted values with intervals in ``text`` that appear nowhere in ``sources``."""
    return [q for q in QUOTE.findall(text.replace("−", "-")) if q not in sources]


def test_every_quoted_interval_is_in_a_generated_table():
    sources = "\n".join(p.read_text() for p in sorted((ROOT / "report").rglob("*.md")) if p.name != "README.md")
    assert unsourced((ROOT / "report" / "README.md").read_text(), sources) == []


def test_a_number_not_in_the_tables_is_caught():
    sources = "| v3 | 0.519 [0.503, 0.535] | +0.015 [+0.004, +0.027] |"
    assert unsourced("δ1 0.519 [0.503, 0.535], paired +0.015 [+0.004, +0.027]", sources) == []
    assert unsourced("δ1 0.521 [0.503, 0.535] and −0.015 [−0.027, −0.004]", sources) == [
        "0.521 [0.503, 0.535]",
        "-0.015 [-0.027, -0.004]",
    ]
