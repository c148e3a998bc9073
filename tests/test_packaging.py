"""Each setting declared once: the version (depthutils.__version__), the dependencies (pyproject.toml, whose every
requirement requirements.lock pins to a version inside its bounds), ruff's pin (the lock, the test extra, pre-commit).
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import depthutils

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line.strip())
        assert m, f"requirements.lock: not an exact pin: {line!r}"
        name = canonicalize_name(m[1])
        assert name not in pins, f"requirements.lock pins {name} twice"
        pins[name] = m[2]
    return pins


def _requirements() -> list[Requirement]:
    project = _pyproject()["project"]
    extras = project.get("optional-dependencies", {})
    return [Requirement(r) for r in [*project["dependencies"], *(r for reqs in extras.values() for r in reqs)]]


def test_version_is_declared_once_in_the_package():
    project = _pyproject()["project"]
    assert "version" not in project, "pyproject.toml declares a version: keep only depthutils.__version__"
    assert "version" in project.get("dynamic", [])
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "depthutils._version.__version__"}
    for name in ("setup.py", "setup.cfg"):
        assert not (ROOT / name).exists(), f"{name} may declare a second version: pyproject.toml is the only one"
    declared = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "depthutils").rglob("*.py"))
        if re.search(r"^__version__\s*[:=]", path.read_text(), flags=re.MULTILINE)
    ]
    assert declared == ["depthutils/_version.py"], declared
    assert re.fullmatch(r"\d+\.\d+\.\d+", depthutils.__version__)


def test_installed_metadata_has_the_package_version():
    assert version("depthutils") == depthutils.__version__, "stale install metadata: pip install -e . again"


def test_lock_pins_every_dependency_inside_pyprojects_bounds():
    pins = _lock()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"requirements.lock lacks {req.name} (refresh it: see its header)"
        assert req.specifier.contains(pins[name], prereleases=True), f"lock {name}=={pins[name]} outside {req}"
    assert "depthutils" not in pins, "the lock pins the project itself (freeze with --exclude-editable)"


def test_ruff_is_pinned_to_one_version_everywhere():
    ruff = [r for r in _requirements() if canonicalize_name(r.name) == "ruff"]
    assert ruff and all(str(r.specifier) == f"=={_lock()['ruff']}" for r in ruff), ruff
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    rev = re.search(r"ruff-pre-commit\n\s+rev:\s*v(\S+)", config)
    assert rev and rev[1] == _lock()["ruff"], "pre-commit's ruff rev differs from requirements.lock's ruff"


def test_the_package_data_carries_the_weights_and_the_example_photos():
    """An installed package (not only a clone) has the shipped model and the demo's example photos: the files
    lie inside the package, and pyproject's package-data globs name them."""
    import fnmatch

    from depthutils import demo

    package = ROOT / "depthutils"
    assert demo._EXAMPLES.parent == package and any(demo._EXAMPLES.glob("*.jpg"))
    globs = _pyproject()["tool"]["setuptools"]["package-data"]["depthutils"]
    for f in [*demo._EXAMPLES.glob("*.jpg"), *(package / "weights").glob("*/model.safetensors")]:
        rel = f.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} is not package data"
    assert (ROOT / "examples").resolve() == demo._EXAMPLES  # the repository's examples/: the same photos
