"""depthutils._env: the commit a result records where the code travels without its .git."""

from __future__ import annotations

import subprocess

import pytest

from depthutils import _env


def _no_repository(*args, **kwargs):  # `git rev-parse HEAD` outside a repository: nothing on stdout
    return subprocess.CompletedProcess(args, 128, stdout="", stderr="fatal: not a git repository")


def _no_git(*args, **kwargs):
    raise FileNotFoundError("git")


@pytest.mark.parametrize("run", [_no_repository, _no_git])
def test_commit_without_git(monkeypatch, run):
    monkeypatch.setattr(_env.subprocess, "run", run)
    monkeypatch.delenv(_env.COMMIT_ENV, raising=False)
    assert _env.git_commit() == "unknown"
    monkeypatch.setenv(_env.COMMIT_ENV, "abc123")
    assert _env.git_commit() == "abc123"


def test_the_named_commit_wins_over_git(monkeypatch):
    # a copy of the working tree may carry a stale .git: the commit the sender names is the one that ran
    monkeypatch.setenv(_env.COMMIT_ENV, "the-sent-one")
    assert _env.git_commit() == "the-sent-one"
    monkeypatch.delenv(_env.COMMIT_ENV)
    sha = _env.git_commit()
    if sha == "unknown":
        pytest.skip("this checkout has no git (a copy without .git)")
    assert len(sha.removesuffix("-dirty")) == 40
