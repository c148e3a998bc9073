"""Nothing lost, nothing mislabelled: the hostile cases of the reliability review, each reproduced."""

from __future__ import annotations

import errno
import json
import math
import os

import pytest
import torch

from conftest import TINY
from depthutils._io import write_json_atomic
from depthutils.cli import main
from depthutils.run_folder import CheckpointError, RunFolder, load_checkpoint

TRAIN = ["train", "--model", "resnete_decoder_v1"]


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--limit", "-3"),
        ("--epochs", "-2"),
        ("--epochs", "0"),
        ("--batch-size", "0"),
        ("--image-size", "0"),
        ("--test-limit", "0"),
        ("--max-depth", "0"),
        ("--eval-every", "0"),
        ("--val-fraction", "0.7"),
    ],
)
def test_bad_numbers_are_refused_before_anything_is_loaded(tmp_path, capsys, monkeypatch, flag, value):
    import depthutils.train as train_mod

    monkeypatch.setattr(train_mod, "load_data", lambda *a, **k: pytest.fail("data loaded before the check"))
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), *TINY, flag, value]) == 2
    err = capsys.readouterr().err
    assert value in err or flag.lstrip("-").replace("-", "_") in err, err
    assert not out.exists()


def test_synth_count_zero_is_refused(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["synth", "--out", str(tmp_path / "s.mat"), "--count", "0"])
    assert e.value.code == 2 and not (tmp_path / "s.mat").exists()


def test_best_is_written_before_last(tmp_path, monkeypatch):
    order = []
    real = RunFolder.save_checkpoint
    monkeypatch.setattr(
        RunFolder,
        "save_checkpoint",
        lambda self, path, payload: order.append((payload["epoch"], path.name)) or real(self, path, payload),
    )
    assert main([*TRAIN, "--out", str(tmp_path / "r"), "--epochs", "3", "--eval-every", "1", *TINY]) == 0
    for epoch in {e for e, name in order if name == "best.pt"}:
        assert order.index((epoch, "best.pt")) < order.index((epoch, "last.pt"))
    assert order[0] == (1, "best.pt")  # the first evaluated epoch is always a new best


def test_bytes_overwritten_inside_last_pt_are_caught(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", *TINY]) == 0
    raw = bytearray((out / "last.pt").read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 4096] = os.urandom(4096)
    (out / "last.pt").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError):
        load_checkpoint(out / "last.pt")
    before = (out / "history.csv").read_text(), (out / "results.json").read_text()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 2
    assert "--resume-from" in capsys.readouterr().err
    assert ((out / "history.csv").read_text(), (out / "results.json").read_text()) == before  # nothing overwritten


def test_full_disk_is_named(tmp_path, capsys, monkeypatch):
    import depthutils.run_folder as rf

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "r" / "last.pt"))

    monkeypatch.setattr(rf.torch, "save", full)
    assert main([*TRAIN, "--out", str(tmp_path / "r"), "--epochs", "1", *TINY]) == 2
    err = capsys.readouterr().err
    assert "the disk is full" in err and "last.pt" in err and "Traceback" not in err


def test_json_is_standard_and_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "x.json", {"a": math.nan, "b": [1.0, math.inf], "c": torch.tensor(2.0).item()})
    finally:
        os.umask(old)
    text = (tmp_path / "x.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 2.0}
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644


def _tiny_run(tmp_path):
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", *TINY]) == 0
    return out


@pytest.mark.parametrize(
    "case",
    ["synth_over_splits", "synth_over_mat", "baselines_over_results", "evaluate_twice", "bench_over_report"],
)
def test_no_command_replaces_a_file_it_did_not_write(tmp_path, capsys, case):
    """Every command that writes a file refuses to replace an existing one unless --overwrite is given."""
    if case.startswith("synth"):
        (tmp_path / "splits.mat").write_bytes(b"the official split")
        target = tmp_path / "splits.mat" if case == "synth_over_splits" else tmp_path / "x.mat"
        target.write_bytes(b"precious")
        argv = ["synth", "--out", str(tmp_path / "x.mat"), "--count", "4", "--size", "32x48"]
    elif case == "baselines_over_results":
        run = _tiny_run(tmp_path)
        target = run / "results.json"
        argv = ["baselines", "--data", "synthetic", "--out", str(target)]
    elif case == "evaluate_twice":
        run = _tiny_run(tmp_path)
        target = run / "evaluation.json"
        assert main(["evaluate", "--checkpoint", str(run / "last.pt")]) == 0
        argv = ["evaluate", "--checkpoint", str(run / "last.pt")]
    else:
        target = tmp_path / "bench.json"
        target.write_text("{}")
        argv = ["bench", "--quick", "--models", "regnet_unet", "--out", str(target)]
    before = target.read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and target.name in err
    assert target.read_bytes() == before


def test_out_of_the_wrong_kind_is_named(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["synth", "--out", str(tmp_path / "afile" / "x.mat"), "--count", "4"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    (tmp_path / "adir").mkdir()
    assert main(["synth", "--out", str(tmp_path / "adir"), "--count", "4"]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
