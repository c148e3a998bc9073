"""``fit`` through the CLI: train, resume after SIGKILL / Ctrl-C (exactly, in fp32 and bf16), atomic checkpoints,
best.pt on validation, refusals that lose nothing, evaluate."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import TINY, shared_or_skip
from depthutils.cli import main
from depthutils.engine import cpu_has_native_bf16
from depthutils.run_folder import CheckpointError, load_checkpoint

pytestmark = pytest.mark.slow  # every test here trains (9 s to 3 min each); `pytest -m "not slow"` skips them

BF16 = pytest.param("bf16", marks=pytest.mark.skipif(not cpu_has_native_bf16(), reason="CPU has no native bf16"))


def _rows(out: Path) -> list[dict]:
    with open(out / "history.csv") as f:
        return list(csv.DictReader(f))


def _cli(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    e = {**os.environ, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "depthutils", *args],
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_cli_train_synthetic(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "2", *TINY]) == 0
    rows = _rows(out)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_l1", "test_loss", "test_l1", "test_delta1"} <= set(rows[0])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["epochs"] == 2 and cfg["dataset"]["kind"] == "synthetic"
    assert cfg["dataset"]["n_val"] >= 1 and not set(cfg["dataset"]["val_indices"]) & set(cfg["dataset"]["test_indices"])
    for name in ("last.pt", "best.pt"):
        ck = torch.load(out / name, weights_only=True)  # plain metadata: loads without unpickling code
        assert ck["model_name"] == "resnete_decoder_v1" and ck["pretrained"] == {
            "requested": "false",
            "used": "scratch",
        }
        assert ck["dataset"]["kind"] == "synthetic" and "torch" in ck["versions"] and ck["git_commit"]
    res = _results(out)
    assert res["epochs"] == 2 and res["checkpoint"] == "last.pt" and set(res["protocols"]) == {"report", "standard"}
    std = res["protocols"]["standard"]
    assert (
        std["protocol"]["eigen_crop"]
        and std["protocol"]["flip_tta"]
        and std["protocol"]["gt_resolution_hw"] == [64, 96]
    )
    assert {"delta1", "abs_rel", "rmse", "l1_global"} == set(std["ci"]) == set(res["per_image"]["standard"])
    assert {"dbe_acc", "depth_ssim", "test_loss"} <= set(res["protocols"]["report"])
    # a second run into the same folder must not overwrite it silently
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "2", *TINY]) == 2


def test_cli_train_real_small_copy_with_full_resolution_gt(tmp_path):
    root = shared_or_skip("nyu_v2_labeled_192x144")
    full = shared_or_skip("nyu_v2_labeled")
    out = tmp_path / "real"
    # TINY's sizes and limits on the real copy (later flags win over TINY's synthetic --data)
    real = ["--data", str(root), "--gt-data", str(full), "--split", "official"]
    assert main(["train", "--model", "resnete_decoder_v2", "--out", str(out), "--epochs", "1", *TINY, *real]) == 0
    res = _results(out)
    assert res["dataset"]["kind"] == "real" and res["dataset"]["split"] == "official"
    assert res["dataset"]["split_sizes"] == {"train": 715, "val": 80, "test": 654}
    assert res["protocols"]["standard"]["protocol"]["gt_resolution_hw"] == [480, 640]
    assert res["protocols"]["report"]["protocol"]["gt_resolution_hw"] == [64, 64]


def _wait_for_rows(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (out / "history.csv").exists() and len(_rows(out)) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.stdout.read()}")
        time.sleep(0.05)
    pytest.fail("timed out waiting for an epoch")


@pytest.mark.parametrize("precision", ["fp32", BF16])
def test_kill_and_resume_matches_uninterrupted(tmp_path, precision):
    args = [
        "train",
        "--model",
        "resnete_decoder_v1",
        "--epochs",
        "4",
        "--eval-every",
        "1",
        "--precision",
        precision,
        *TINY,
    ]
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
    assert _cli("train", "--out", str(out), "--resume", "--quiet").wait(timeout=300) == 0
    rows, ref_rows = _rows(out), _rows(ref)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    # Bit-identical on CPU: every epoch is seeded by (seed, epoch) and the optimiser state is restored.
    for r, q in zip(rows, ref_rows):
        for k in ("train_loss", "val_l1", "test_loss", "test_l1", "test_abs_rel", "test_delta1"):
            assert r[k] == q[k], (k, r, q)
    a, b = _results(out), _results(ref)
    assert a["precision"] == b["precision"] == precision
    assert a["protocols"]["standard"]["abs_rel"] == b["protocols"]["standard"]["abs_rel"]


def test_precision_is_recorded_and_honoured(tmp_path, monkeypatch):
    import depthutils.engine as engine

    seen = []
    real = engine.autocast
    monkeypatch.setattr(engine, "autocast", lambda device, precision: seen.append(precision) or real(device, precision))
    out = tmp_path / "fp32"
    assert (
        main(
            ["train", "--model", "resnete_decoder_v3", "--out", str(out), "--epochs", "1", "--precision", "fp32", *TINY]
        )
        == 0
    )
    assert set(seen) == {"fp32"} and _results(out)["precision"] == "fp32"
    assert _results(out)["protocols"]["standard"]["protocol"]["precision"] == "fp32"
    seen.clear()
    assert (
        main(
            [
                "train",
                "--model",
                "resnete_decoder_v3",
                "--out",
                str(tmp_path / "bf"),
                "--epochs",
                "1",
                "--precision",
                "bf16",
                *TINY,
            ]
        )
        == 0
    )
    assert set(seen) == {"bf16"} and _results(tmp_path / "bf")["precision"] == "bf16"
    assert engine.resolve_precision("auto", torch.device("cpu")) == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert engine.resolve_precision("auto", torch.device("cuda")) == "bf16"


def test_ctrl_c_stops_cleanly_after_saving(tmp_path):
    out = tmp_path / "int"
    # A child of a backgrounded non-interactive shell (as CI may be) inherits SIGINT = ignored, and Python then
    # never raises KeyboardInterrupt; give the child the terminal's default, as a user pressing Ctrl-C has.
    p = _cli(
        "train",
        "--model",
        "resnete_decoder_v1",
        "--epochs",
        "50",
        *TINY,
        "--out",
        str(out),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_rows(out, 1, p)
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=60) == 130
    assert "continue with --resume" in p.stdout.read()
    ck = load_checkpoint(out / "last.pt")
    assert ck["epoch"] == len(_rows(out)) >= 1
    assert not (out / ".lock").exists()


def test_crash_during_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    import depthutils.run_folder as rf

    real_save = torch.save

    def flaky_save(obj, f, *a, **k):
        if obj.get("epoch") == 2:  # epoch 2's checkpoint: write half a file, then "crash"
            Path(f).write_bytes(b"PK\x03\x04 half a zip")
            raise OSError("disk full (simulated)")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(rf.torch, "save", flaky_save)
    out = tmp_path / "crash"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "3", *TINY]) == 2
    ck = load_checkpoint(out / "last.pt")
    assert ck["epoch"] == 1 and len(_rows(out)) == 1
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(rf.torch, "save", real_save)
    assert main(["train", "--out", str(out), "--resume"]) == 0
    assert [r["epoch"] for r in _rows(out)] == ["1", "2", "3"]


def test_resume_without_epochs_keeps_the_runs_count_and_finished_runs_stay(tmp_path):
    out = tmp_path / "r"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "1", *TINY]) == 0
    before = (out / "results.json").read_text()
    assert main(["train", "--out", str(out), "--resume"]) == 0
    assert [r["epoch"] for r in _rows(out)] == ["1"]  # not the report's 50
    assert (out / "results.json").read_text() == before  # finished: nothing retrained or rewritten
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 0  # a longer run is allowed
    assert [r["epoch"] for r in _rows(out)] == ["1", "2"] and _results(out)["epochs"] == 2


def test_resume_refuses_other_settings_and_missing_last(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "2", *TINY]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main(["train", "--out", str(out), "--resume", "--lr", "0.5", "--batch-size", "2"]) == 2
    err = capsys.readouterr().err
    assert "lr: run has" in err and "batch_size: run has 4, asked 2" in err
    assert main(["train", "--out", str(out), "--resume", "--epochs", "1"]) == 2
    assert "fewer than the 2 epochs" in capsys.readouterr().err
    (out / "last.pt").unlink()
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert "--resume-from" in capsys.readouterr().err
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert {k: v for k, v in before.items() if k != "last.pt"} == after  # nothing overwritten
    assert main(["train", "--out", str(out), "--resume-from", str(out / "best.pt"), "--epochs", "3"]) == 0
    assert _results(out)["epochs"] == 3


def test_damaged_weights_are_detected(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "1", *TINY]) == 0
    ck = torch.load(out / "last.pt", weights_only=True)
    w = next(iter(ck["model_state"].values()))
    w[(0,) * w.ndim] += 1.0  # one changed value, the stored checksum kept
    torch.save(ck, out / "last.pt")
    with pytest.raises(CheckpointError, match="do not match the checksum"):
        load_checkpoint(out / "last.pt")
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 2
    assert "checksum" in capsys.readouterr().err


def test_nonfinite_loss_stops_and_keeps_the_last_good_epoch(tmp_path, monkeypatch, capsys):
    import depthutils.engine as engine

    real = engine.train_step
    calls = {"n": 0}

    def poisoned(*a, **k):
        calls["n"] += 1
        loss = real(*a, **k)
        return loss * math.nan if calls["n"] > 2 else loss  # epoch 1 (2 steps) is fine, epoch 2 is NaN

    monkeypatch.setattr(engine, "train_step", poisoned)
    out = tmp_path / "nan"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "3", *TINY]) == 2
    assert "became nan in epoch 2" in capsys.readouterr().err
    assert load_checkpoint(out / "last.pt")["epoch"] == 1 and len(_rows(out)) == 1
    assert not (out / "results.json").exists()


def test_a_second_writer_is_refused(tmp_path, capsys):
    out = tmp_path / "locked"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".lock").write_text(str(holder.pid))
        assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "1", *TINY]) == 2
        assert f"process {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and is taken over
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "1", *TINY]) == 0


def test_stale_temp_files_are_removed(tmp_path):
    out = tmp_path / "tmpfiles"
    out.mkdir()
    (out / ".last.pt.abc.pt.tmp").write_bytes(b"x" * 1000)
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "1", *TINY]) == 0
    assert not list(out.glob(".*.tmp"))


def test_wrong_architecture_and_corrupt_checkpoint(tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "1", *TINY]) == 0
    with pytest.raises(CheckpointError, match="holds a 'resnete_decoder_v1' model, not 'resnet_unet'"):
        load_checkpoint(out / "last.pt", expect_model="resnet_unet")
    assert main(["train", "--model", "resnet_unet", "--out", str(out), "--epochs", "2", "--resume"]) == 2
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
    torch.save({"format": "depthutils-checkpoint-v2", "x": Evil()}, p)
    with pytest.raises(CheckpointError, match="corrupt or not a depthutils checkpoint"):
        load_checkpoint(p)


def test_evaluate_cli_writes_results(tmp_path):
    out = tmp_path / "e"
    assert main(["train", "--model", "resnete_decoder_v3", "--out", str(out), "--epochs", "1", *TINY]) == 0
    assert (
        main(
            ["evaluate", "--checkpoint", str(out / "last.pt"), "--test-limit", "3", "--out", str(tmp_path / "ev.json")]
        )
        == 0
    )
    ev = json.loads((tmp_path / "ev.json").read_text())
    std, rep = ev["protocols"]["standard"], ev["protocols"]["report"]
    assert std["n_images"] == rep["n_images"] == 3 and std["protocol"]["flip_tta"] and std["protocol"]["eigen_crop"]
    assert {"l1_global", "mse_global", "l1_per_image", "dbe_comp", "depth_ssim"} <= set(rep)
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(out / "last.pt"),
                "--no-flip-tta",
                "--test-limit",
                "3",
                "--out",
                str(tmp_path / "ev2.json"),
            ]
        )
        == 0
    )
    assert not json.loads((tmp_path / "ev2.json").read_text())["protocols"]["standard"]["protocol"]["flip_tta"]


def test_evaluate_frames_from_other_cameras(tmp_path):
    frames = shared_or_skip("rgbd_samples")
    out = tmp_path / "e"
    assert main(["train", "--model", "resnete_decoder_v3", "--out", str(out), "--epochs", "1", *TINY]) == 0
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(out / "last.pt"),
                "--data",
                str(frames),
                "--out",
                str(tmp_path / "cams.json"),
            ]
        )
        == 0
    )
    ev = json.loads((tmp_path / "cams.json").read_text())
    assert set(ev["protocols"]) == {"raw", "median_scaled"} and len(ev["frames"]) == 13
    assert ev["protocols"]["raw"]["n_images"] == 13


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path):
    from depthutils.run_folder import model_from_checkpoint

    out = tmp_path / "w"
    assert main(["train", "--model", "resnete_decoder_v1", "--out", str(out), "--epochs", "1", *TINY]) == 0
    ck = load_checkpoint(out / "last.pt")
    ck["model_name"] = "resnete_decoder_v3"  # v1's weights under v3's name: another decoder
    with pytest.raises(CheckpointError, match="checkpoint weights do not fit 'resnete_decoder_v3'"):
        model_from_checkpoint(ck)
