"""The engine through its CLI: train, resume after SIGKILL / Ctrl-C, atomic checkpoints, evaluate."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from depthutils.cli import main
from depthutils.train import CheckpointError, load_checkpoint
from conftest import TINY, shared_or_skip



def _rows(out: Path) -> list[dict]:
    with open(out / "history.csv") as f:
        return list(csv.DictReader(f))


def _cli(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    e = {**os.environ, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "depthutils", *args], env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_cli_train_synthetic(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "2", *TINY]) == 0
    rows = _rows(out)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "test_loss", "l1_global", "mse_global", "delta1"} <= set(rows[0])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["epochs"] == 2 and cfg["dataset"]["kind"] == "synthetic"
    for name in ("last.pt", "best.pt"):
        ck = torch.load(out / name, weights_only=True)  # plain metadata: loads without unpickling code
        assert ck["model_name"] == "resnete_decoder_v1" and ck["pretrained"] == {"requested": "false", "used": "scratch"}
        assert ck["dataset"]["kind"] == "synthetic" and "torch" in ck["versions"] and ck["git_commit"]
    res = json.loads((out / "results.json").read_text())
    assert res["epochs"] == 2 and {"l1_global", "abs_rel", "dbe_acc", "eigen_delta1"} <= set(res["metrics"])
    # a second run into the same folder must not overwrite it silently
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "2", *TINY]) == 2


def test_cli_train_real_small_copy(tmp_path):
    root = shared_or_skip("nyu_v2_labeled_256x192")
    out = tmp_path / "real"
    assert main(["train", "--model", "resnete_decoder_v2", "--data", str(root), "--out", str(out), "--epochs", "1",
                 "--image-size", "64", "--batch-size", "4", "--limit", "8", "--test-limit", "4",
                 "--pretrained", "false", "--split", "official", "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["dataset"]["kind"] == "real" and res["dataset"]["split"] == "official"
    assert len(_rows(out)) == 1


def _wait_for_rows(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (out / "history.csv").exists() and len(_rows(out)) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.stdout.read()}")
        time.sleep(0.05)
    pytest.fail("timed out waiting for an epoch")


def test_kill_and_resume_matches_uninterrupted(tmp_path):
    args = ["train", "--model", "resnete_decoder_v1", "--epochs", "4", *TINY]
    ref = tmp_path / "ref"
    assert _cli(*args, "--out", str(ref)).wait(timeout=300) == 0
    out = tmp_path / "killed"
    p = _cli(*args, "--out", str(out))
    _wait_for_rows(out, 1, p)
    p.send_signal(signal.SIGKILL)  # at whatever point epoch 2 has reached
    p.wait()
    done = len(_rows(out))
    assert 1 <= done < 4
    assert load_checkpoint(out / "last.pt")["epoch"] == done
    assert _cli(*args, "--out", str(out), "--resume").wait(timeout=300) == 0
    rows, ref_rows = _rows(out), _rows(ref)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    # Bit-identical on CPU: every epoch is seeded by (seed, epoch) and the optimiser state is restored.
    for r, q in zip(rows, ref_rows):
        for k in ("train_loss", "test_loss", "l1_global", "mse_global", "abs_rel", "delta1"):
            assert r[k] == q[k], (k, r, q)
    assert json.loads((out / "results.json").read_text())["metrics"]["l1_global"] == \
        json.loads((ref / "results.json").read_text())["metrics"]["l1_global"]


def test_ctrl_c_stops_cleanly_after_saving(tmp_path):
    out = tmp_path / "int"
    # A child of a backgrounded non-interactive shell (as CI may be) inherits SIGINT = ignored, and Python then
    # never raises KeyboardInterrupt; give the child the terminal's default, as a user pressing Ctrl-C has.
    p = _cli("train", "--model", "resnete_decoder_v1", "--epochs", "50", *TINY, "--out", str(out),
             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_rows(out, 1, p)
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=60) == 130
    assert "continue with --resume" in p.stdout.read()
    ck = load_checkpoint(out / "last.pt")
    assert ck["epoch"] == len(_rows(out)) >= 1


def test_crash_during_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    import depthutils.train as train_mod

    real_save = torch.save
    calls = {"n": 0}

    def flaky_save(obj, f, *a, **k):
        calls["n"] += 1
        if obj.get("epoch") == 2:  # epoch 2's checkpoint: write half a file, then "crash"
            Path(f).write_bytes(b"PK\x03\x04 half a zip")
            raise OSError("disk full (simulated)")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(train_mod.torch, "save", flaky_save)
    out = tmp_path / "crash"
    with pytest.raises(OSError, match="simulated"):
        main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "3", *TINY])
    ck = load_checkpoint(out / "last.pt")
    assert ck["epoch"] == 1 and len(_rows(out)) == 1
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(train_mod.torch, "save", real_save)
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "3", *TINY, "--resume"]) == 0
    assert [r["epoch"] for r in _rows(out)] == ["1", "2", "3"]


def test_resume_without_epochs_keeps_the_runs_count(tmp_path):
    out = tmp_path / "r"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "1", *TINY]) == 0
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), *TINY, "--resume"]) == 0
    assert [r["epoch"] for r in _rows(out)] == ["1"]  # not the report's 50


def test_wrong_architecture_and_corrupt_checkpoint(tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "1", *TINY]) == 0
    with pytest.raises(CheckpointError, match="holds a 'resnete_decoder_v1' model, not 'resnet_unet'"):
        load_checkpoint(out / "last.pt", expect_model="resnet_unet")
    assert main(["train", "--model", "resnet_unet", "--out", str(out), "--epochs", "2", *TINY, "--resume"]) == 2
    assert "not 'resnet_unet'" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes((out / "last.pt").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"bad\.pt is corrupt"):
        load_checkpoint(bad)


def test_checkpoint_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    p = tmp_path / "evil.pt"
    torch.save({"format": "depthutils-checkpoint-v1", "x": Evil()}, p)
    with pytest.raises(CheckpointError, match="corrupt or not a depthutils checkpoint"):
        load_checkpoint(p)


def test_evaluate_cli_writes_results(tmp_path):
    out = tmp_path / "e"
    assert main(["train", "--model", "resnete_decoder_v3", "--out", str(out), "--epochs", "1", *TINY]) == 0
    assert main(["evaluate", "--checkpoint", str(out / "last.pt"), "--eigen-crop", "--flip-tta", "--test-limit", "3",
                 "--out", str(tmp_path / "ev.json")]) == 0
    ev = json.loads((tmp_path / "ev.json").read_text())
    m = ev["metrics"]
    assert ev["eigen_crop"] and ev["flip_tta"] and m["n_images"] == 3
    assert m["abs_rel"] == m["eigen_abs_rel"] and "full_abs_rel" in m
    assert {"l1_global", "mse_global", "l1_per_image", "dbe_comp", "depth_ssim"} <= set(m)
