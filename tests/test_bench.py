"""The benchmark's --quick mode keeps working (structure only: no speed is asserted here), and its engine column
runs the very step that ``fit`` runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from depthutils.bench import engine_step_fn, reference_loader
from depthutils.cli import main

pytestmark = pytest.mark.slow  # every test here runs training steps (tens of seconds)


def test_bench_quick_writes_json_and_markdown(tmp_path):
    out = tmp_path / "benchmark-cpu.json"
    assert (
        main(["bench", "--device", "cpu", "--quick", "--models", "resnete_decoder_v1,resnet_unet", "--out", str(out)])
        == 0
    )
    res = json.loads(out.read_text())
    assert res["quick"] and res["device_type"] == "cpu" and res["git_commit"] and "torch" in res["versions"]
    assert res["precision"] in ("bf16", "fp32")
    for name in ("resnete_decoder_v1", "resnet_unet"):
        r = res["models"][name]
        assert r["engine_img_s"] > 0 and r["reference_img_s"] > 0
        assert r["latency_640x480_s"] > 0 and r["eval_654_s"] > 0
    assert res["whole_study_train_s_extrapolated"] is None  # not every table row was measured
    assert set(res["scaling_resnet_unet"]) == {"32x32", "64x64"}
    md = out.with_suffix(".md").read_text()
    assert "| resnet_unet |" in md and "quick mode" in md


def test_bench_batch_compile_and_profile_reach_the_engine_step(tmp_path, monkeypatch):
    """[gpu]'s next questions (larger batches, torch.compile, where a step's time goes) as flags; torch.compile is
    recorded, not run (it takes minutes on this CPU). The batch is larger than --quick's 4 rooms: the reference
    loader, which drops a last partial batch, must still get a full one."""
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda m, **kw: compiled.append(m) or m)
    out = tmp_path / "b.json"
    argv = ["bench", "--device", "cpu", "--quick", "--models", "resnete_decoder_v1", "--batch", "5"]
    assert main([*argv, "--compile", "--profile", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["batch_size"] == 5 and res["compile"] is True and len(compiled) == 1
    p = res["models"]["resnete_decoder_v1"]["profile"]
    assert p["steps"] == 3 and p["wall_s_per_step"] > 0 and p["host_op_s_per_step"] > 0
    assert "convolution" in p["table"] and p["gpu_kernel_s_per_step"] is None  # no GPU here
    md = out.with_suffix(".md").read_text()
    assert "batch 5" in md and "engine under torch.compile" in md
    assert "Profile of one engine step of `resnete_decoder_v1`" in md
    with pytest.raises(SystemExit):
        main([*argv[:-1], "0", "--out", str(tmp_path / "c.json")])  # a batch of 0 is refused before any work


def test_reference_and_engine_see_the_same_shapes():
    rgb = np.random.default_rng(0).integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    depth = np.full((4, 48, 64), 2.0, np.float32)
    x, d = next(iter(reference_loader(rgb, depth, size=(32, 32), batch=2)))
    assert x.shape == (2, 3, 32, 32) and d.shape == (2, 1, 32, 32) and x.dtype == torch.float32
    step, model = engine_step_fn("resnete_decoder_v2", rgb, depth, dev=torch.device("cpu"), size=(32, 32), batch=2)
    before = [p.detach().clone() for p in model.parameters()][:3]
    assert step() == 2
    assert any(not torch.equal(b, p) for b, p in zip(before, list(model.parameters())[:3]))


def test_engine_column_runs_the_step_that_fit_runs(tmp_path, monkeypatch):
    """Count calls of engine.train_step, then drive both the benchmark's engine step and a training run."""
    import depthutils.engine as engine
    from conftest import TINY

    calls = []
    real = engine.train_step

    def counted(*a, **k):
        calls.append(k["image_size"])
        return real(*a, **k)

    monkeypatch.setattr(engine, "train_step", counted)
    rgb = np.random.default_rng(0).integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    step, _ = engine_step_fn(
        "resnete_decoder_v3",
        rgb,
        np.full((4, 48, 64), 2.0, np.float32),
        dev=torch.device("cpu"),
        size=(32, 32),
        batch=2,
    )
    step()
    assert calls == [(32, 32)]
    assert main(["train", "--model", "resnete_decoder_v3", "--out", str(tmp_path / "r"), "--epochs", "1", *TINY]) == 0
    assert len(calls) > 1 and set(calls[1:]) == {(64, 64)}


def test_zoo_bench_times_every_shipped_model_folded_and_not_beside_the_improved_row(tmp_path):
    from depthutils.bench import run_zoo_bench
    from depthutils.models import list_weights

    out = tmp_path / "zoo.json"
    res = run_zoo_bench(out=out, rounds=1, train_steps=1)
    rows = {r["label"]: r for r in res["rows"]}
    assert set(rows) == {*list_weights(), "improved row (not shipped)"}
    for r in rows.values():
        assert r["predict_ms_640x480"] > 0 and r["predict_ms_not_folded"] > 0 and r["train_img_s"] > 0
    assert rows["improved row (not shipped)"]["predict_time_ratio_to_improved"] == 1.0
    assert json.loads(out.read_text())["rows"] == res["rows"]
    md = out.with_suffix(".md").read_text()
    assert "BatchNorm not folded: ms" in md and "| nyu-regnet-unet (`regnet_unet`) | 192×256 |" in md
