"""depthutils._env: the commit a result records where the code travels without its .git."""

import subprocess

import pytest

from depthutils import _env


def _no_repository(*args, **kwargs):  # `git rev-parse HEAD` outside a repository: nothing on stdout
    return subprocess.CompletedProcess(args, 128, stdout="", stderr="fatal: not a git repository")


def _no_git(*args, **kwargs):
    raise FileNotFoundError("git")


@pytest.mark.parametrize("run", [_no_repository, _no_git])
def test_commit_from_the_environment_only_without_git(monkeypatch, run):
    monkeypatch.setattr(_env.subprocess, "run", run)
    monkeypatch.delenv(_env.COMMIT_ENV, raising=False)
    assert _env.git_commit() == "unknown"
    monkeypatch.setenv(_env.COMMIT_ENV, "abc123")
    assert _env.git_commit() == "abc123"


def test_git_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(_env.COMMIT_ENV, "not-this-one")
    sha = _env.git_commit()
    if sha == "unknown":
        pytest.skip("this checkout has no git (a copy without .git)")
    assert sha != "not-this-one" and len(sha.removesuffix("-dirty")) == 40
