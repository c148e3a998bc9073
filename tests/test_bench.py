"""The benchmark's --quick mode keeps working (structure only: no speed is asserted here), and its engine column
runs the very step that ``fit`` runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from depthutils.bench import engine_step_fn, reference_loader
from depthutils.cli import main
from depthutils.models import DEFAULT_WEIGHTS

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
    calls = []

    class Compiled(torch.nn.Module):  # stands for torch.compile's wrapper: counts the calls that go through it
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            calls.append(x.shape[0])
            return self.m(x)

    monkeypatch.setattr(torch, "compile", Compiled)
    out = tmp_path / "b.json"
    argv = ["bench", "--device", "cpu", "--quick", "--models", "resnete_decoder_v1", "--batch", "5"]
    assert main([*argv, "--compile", "--profile", "--image-size", "64x96", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["batch_size"] == 5 and res["compile"] is True and res["predict_bn_folded"] is True
    assert res["image_size"] == [64, 96] and res["data"].endswith("at 96x64")  # frames of the input's size
    assert calls and set(calls) == {5}  # the timed engine steps ran through the compiled module
    p = res["models"]["resnete_decoder_v1"]["profile"]
    assert p["steps"] == 3 and p["wall_s_per_step"] > 0 and p["host_op_s_per_step"] > 0
    assert "convolution" in p["table"] and p["gpu_kernel_s_per_step"] is None  # no GPU here
    md = out.with_suffix(".md").read_text()
    assert "batch 5" in md and "engine step under torch.compile" in md and "at 64×96" in md
    assert "Profile of one engine step of `resnete_decoder_v1`" in md
    with pytest.raises(SystemExit):
        main([*argv[:-1], "0", "--out", str(tmp_path / "c.json")])  # a batch of 0 is refused before any work
    with pytest.raises(SystemExit, match="drop --batch, --profile, --image-size"):
        main(["bench", "--zoo", "--batch", "8", "--profile", "--image-size", "64", "--out", str(tmp_path / "z.json")])
    assert not (tmp_path / "z.json").exists()


def test_bench_keeps_the_models_it_finished_when_stopped(tmp_path, monkeypatch):
    """A run stopped by a time limit (the GPU session's) leaves the models it measured, marked partial."""
    import depthutils.bench as bench

    def one_model(name, *a, **kw):
        if name == "resnet_unet":
            raise KeyboardInterrupt  # stands for the SIGTERM of `timeout`
        return {"engine_img_s": 1.0, "reference_img_s": 1.0, "speedup": 1.0, "latency_640x480_s": 0.1, "eval_654_s": 1}

    monkeypatch.setattr(bench, "_bench_model", one_model)
    out = tmp_path / "b.json"
    with pytest.raises(KeyboardInterrupt):
        bench.run_bench(device="cpu", quick=True, out=out, models="resnete_decoder_v1,resnet_unet")
    res = json.loads(out.read_text())
    assert res["partial"] is True and list(res["models"]) == ["resnete_decoder_v1"]
    assert "(partial: stopped before every model was measured)" in out.with_suffix(".md").read_text()


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


def test_zoo_bench_times_every_shipped_model_folded_and_not_beside_the_improved_row(tmp_path, monkeypatch):
    import depthutils.predict
    from depthutils.bench import run_zoo_bench
    from depthutils.models import list_weights

    timed = []  # (input size, BatchNorms in the model) of every predict the bench makes
    real = depthutils.predict.predict_image

    def spy(model, rgb, **kw):
        timed.append((tuple(kw["image_size"]), sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())))
        return real(model, rgb, **kw)

    monkeypatch.setattr(depthutils.predict, "predict_image", spy)
    out = tmp_path / "zoo.json"
    res = run_zoo_bench(out=out, rounds=2, train_steps=1)
    rows = {r["label"]: r for r in res["rows"]}
    assert set(rows) == {*list_weights(), "improved row (not shipped)"}
    for r in rows.values():
        assert r["predict_ms_640x480"] > 0 and r["predict_ms_not_folded"] > 0 and r["train_img_s"] > 0
        assert len(r["predict_ms_rounds"]) == len(r["predict_ms_rounds_not_folded"]) == 2 and r["fold_time_ratio"] > 0
    # each shipped model timed as trained, folded (no BatchNorm left in the RegNet UNet) and as its ONNX graph
    # (no torch modules at all), 1 warm-up + 2 rounds; no int8 without --data (it is reported only with its δ1)
    shipped = [bn for size, bn in timed if size == (192, 256)]
    assert shipped.count(0) == 6 and len(shipped) == 9 and min(b for b in shipped if b) > 0
    for name in list_weights():
        v = rows[name]["variants"]
        assert set(v) == {"eager", "folded", "onnx"} and v["folded"]["predict_ratio_to_folded"] == 1.0
        assert 0 < v["onnx"]["forward_ms"] < v["onnx"]["predict_ms"] and "val_delta1" not in rows[name]
    assert set(rows["improved row (not shipped)"]["variants"]) == {"eager", "folded"}
    assert res["int8"] is None and "onnxruntime" in res["versions"]
    # the speed target of a new default is its ratio to the others, paired by round
    assert res["default_weights"] == DEFAULT_WEIGHTS and rows[DEFAULT_WEIGHTS]["predict_time_ratio_to_default"] == 1
    assert all(r["predict_time_ratio_to_default"] > 0 for r in rows.values())
    assert json.loads(out.read_text())["rows"] == res["rows"]
    md = out.with_suffix(".md").read_text()
    assert "BatchNorm not folded: ms" in md and "| nyu-regnet-unet (`regnet_unet`) | 192×256 |" in md
    assert "| nyu-regnet-unet | ONNX Runtime fp32 |" in md and "int8 not run" in md
