"""depthutils.onnx_backend ([onnx]): shipped weights → an ONNX graph → ONNX Runtime gives the torch path's depth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from depthutils.cli import main
from depthutils.models import DEFAULT_WEIGHTS, WeightsError, get_weights
from depthutils.onnx_backend import OPSET, OnnxModel, export_onnx, onnx_metadata
from depthutils.predict import load_predictor, predict_image

onnx = pytest.importorskip("onnx")  # the onnx extra (requirements.lock installs it)
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tum_desk.jpg"


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    assert main(["export", "--weights", DEFAULT_WEIGHTS, "--onnx", str(path)]) == 0
    return path


def test_export_is_a_checked_deterministic_graph_with_its_metadata(graph, tmp_path):
    proto = onnx.load(str(graph))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == OPSET
    (inp,), (out,) = proto.graph.input, proto.graph.output
    w = get_weights(DEFAULT_WEIGHTS)
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert (inp.name, out.name) == ("rgb", "depth_norm") and dims == ["batch", 3, *w.image_size]
    meta = onnx_metadata(graph)
    assert meta["weights"] == w.name and meta["weights_sha256"] == w.meta["sha256"]
    assert meta["image_size_hw"] == "x".join(map(str, w.image_size)) and float(meta["max_depth_m"]) == w.max_depth
    assert "max_depth_m" in meta["output"] and "folded" in meta["batchnorm"]
    assert not any(n.op_type == "BatchNormalization" for n in proto.graph.node)  # folded before export
    again = tmp_path / "again.onnx"  # in another process: the same bytes
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "depthutils", "export", "--weights", DEFAULT_WEIGHTS, "--onnx", str(again)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(graph.read_bytes()).digest()


def test_export_never_overwrites_without_being_asked(graph, tmp_path, capsys):
    before = graph.read_bytes()
    assert main(["export", "--onnx", str(graph)]) == 2
    assert "--overwrite" in capsys.readouterr().err and graph.read_bytes() == before
    with pytest.raises(ValueError, match="ending in .onnx"):
        export_onnx(None, tmp_path / "model.bin")
    with pytest.raises(SystemExit, match="drop --run/--name"):
        main(["export", "--run", "x", "--onnx", str(tmp_path / "m.onnx")])
    assert not list(tmp_path.iterdir())  # nothing half-written under any name


def test_onnx_runtime_gives_the_torch_models_depth(graph):
    """The same metres as the torch path (BatchNorm folded, as predict runs it) on the example photo, flip TTA."""
    from depthutils.data.folder import read_rgb

    rgb = read_rgb(EXAMPLE)
    torch_p, onnx_p = load_predictor(), load_predictor(onnx=graph)
    kw = dict(image_size=torch_p.image_size, max_depth=torch_p.max_depth, flip_tta=True)
    a = predict_image(torch_p.model, rgb, **kw)
    b = predict_image(onnx_p.model, rgb, **kw)
    assert a.shape == b.shape == rgb.shape[:2]
    assert np.percentile(np.abs(a - b), 99) <= 1e-3
    assert onnx_p.backend == "onnxruntime" and onnx_p.source["sha256"] == get_weights().meta["sha256"]


def test_predict_backend_onnx_writes_the_torch_paths_files(graph, tmp_path):
    t, o = tmp_path / "torch", tmp_path / "onnx"
    assert main(["predict", str(EXAMPLE), "--out", str(t)]) == 0
    assert main(["predict", "--backend", "onnx", "--onnx", str(graph), str(EXAMPLE), "--out", str(o)]) == 0
    assert sorted(p.name for p in t.iterdir()) == sorted(p.name for p in o.iterdir())
    a, b = np.load(t / "tum_desk_depth.npy"), np.load(o / "tum_desk_depth.npy")
    assert np.percentile(np.abs(a - b), 99) <= 1e-3
    rec_t, rec_o = (json.loads((d / "tum_desk_depth.json").read_text()) for d in (t, o))
    assert rec_t["backend"] == "torch" and rec_o["backend"] == "onnxruntime"
    assert rec_o["source_sha256"] == rec_t["source_sha256"] and rec_o["source_onnx"] == str(graph)
    with pytest.raises(SystemExit, match="--onnx PATH"):
        main(["predict", "--backend", "onnx", str(EXAMPLE), "--out", str(tmp_path / "x")])


def test_a_graph_of_other_weights_or_none_is_refused(graph, tmp_path):
    proto = onnx.load(str(graph))
    for p in proto.metadata_props:
        if p.key == "depthutils.max_depth_m":
            p.value = "20.0"  # as if the graph scaled depth otherwise than the shipped card says
    edited = tmp_path / "edited.onnx"
    onnx.save(proto, str(edited))
    with pytest.raises(WeightsError, match="export it again"):
        load_predictor(onnx=edited)
    with pytest.raises(FileNotFoundError, match="export one first"):
        OnnxModel(tmp_path / "missing.onnx")
    from onnx import numpy_helper

    proto = onnx.load(str(graph))  # the metadata intact, a tensor changed: the graph no longer is those weights
    init = proto.graph.initializer[0]
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 2, init.name))
    tampered = tmp_path / "tampered.onnx"
    onnx.save(proto, str(tampered))
    with pytest.raises(WeightsError, match="weights do not match the SHA-256 recorded"):
        load_predictor(onnx=tampered)


def test_onnx_model_takes_any_batch(graph):
    m = OnnxModel(graph)
    h, w = get_weights().image_size
    x = torch.rand(3, 3, h, w)
    assert m(x).shape == (3, 1, h, w)


def test_int8_quantization_leaves_the_working_directory_clean(graph, tmp_path, monkeypatch):
    """ONNX Runtime's quantization writes scratch files into the working directory (a bench run once left 95 MB of
    them in the repository); quantize_int8 keeps them out. The default's graph defeats ONNX Runtime's symbolic shape
    inference, so its fallback runs here too, and the int8 graph runs."""
    import onnxruntime as ort

    from depthutils.onnx_backend import quantize_int8

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    h, w = get_weights().image_size
    quantize_int8(graph, "int8.onnx", torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0)))
    assert sorted(p.name for p in cwd.iterdir()) == ["int8.onnx"]
    x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    assert ort.InferenceSession(str(cwd / "int8.onnx")).run(None, {"rgb": x})[0].shape == (1, 1, h, w)


@pytest.mark.parametrize("message, retried", [("Incomplete symbolic shape inference", True), ("bad graph", False)])
def test_int8_retries_without_symbolic_shapes_only_when_those_gave_up(monkeypatch, tmp_path, message, retried):
    """ONNX Runtime's symbolic shape inference gives up on some graphs with a bare Exception: quantize_int8 then
    runs the pre-processing again without it; any other error is raised as it was."""
    import onnxruntime.quantization as q
    import onnxruntime.quantization.shape_inference as si

    from depthutils.onnx_backend import quantize_int8

    calls = []

    def pre_process(src, dst, **kw):
        calls.append(kw)
        if not kw.get("skip_symbolic_shape"):
            raise Exception(message)  # noqa: TRY002 — what ONNX Runtime raises

    monkeypatch.setattr(si, "quant_pre_process", pre_process)
    monkeypatch.setattr(q, "quantize_static", lambda src, dst, *a, **kw: Path(dst).write_bytes(b"int8"))
    if retried:
        quantize_int8(tmp_path / "in.onnx", tmp_path / "out.onnx", torch.rand(1, 3, 32, 32))
        assert calls == [{}, {"skip_symbolic_shape": True}] and (tmp_path / "out.onnx").read_bytes() == b"int8"
    else:
        with pytest.raises(Exception, match="bad graph"):
            quantize_int8(tmp_path / "in.onnx", tmp_path / "out.onnx", torch.rand(1, 3, 32, 32))
        assert calls == [{}] and not (tmp_path / "out.onnx").exists()


@pytest.mark.slow
def test_onnx_on_nyu_agrees_and_reproduces_the_card(graph, tmp_path):
    """On the 654 official test images under the standard protocol, the graph's δ1 equals the card's within 0.002,
    and its depth equals the torch model's on NYU test photos within 1e-3 m at the 99th percentile of pixels."""
    from conftest import shared_or_skip
    from depthutils.data.folder import read_rgb

    data, gt = shared_or_skip("nyu_v2_labeled_256x192"), shared_or_skip("nyu_v2_labeled")
    torch_p, onnx_p = load_predictor(), load_predictor(onnx=graph)
    kw = dict(image_size=torch_p.image_size, max_depth=torch_p.max_depth, flip_tta=True)
    for name in ("0001.jpg", "0002.jpg", "0009.jpg"):  # official test images (1-based 1, 2, 9)
        rgb = read_rgb(gt / "rgb" / name)
        diff = np.abs(predict_image(torch_p.model, rgb, **kw) - predict_image(onnx_p.model, rgb, **kw))
        assert np.percentile(diff, 99) <= 1e-3, name
    out = tmp_path / "ev.json"
    argv = ["evaluate", "--onnx", str(graph), "--data", str(data), "--gt-data", str(gt), "--split", "official"]
    assert main([*argv, "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    card = get_weights().meta["metrics"]["standard"]
    assert got["backend"] == "onnxruntime" and got["protocols"]["standard"]["n_images"] == 654
    for k in ("delta1", "abs_rel", "rmse"):
        assert got["protocols"]["standard"][k] == pytest.approx(card[k], abs=0.002), k
