"""Shipped weights as an ONNX graph, and ONNX Runtime behind the interface ``predict`` uses ([onnx]).

The graph is the model with its BatchNorms folded (``models.inference.fold_batchnorm``): input ``rgb``
N×3×H×W float32 in [0, 1] at the card's input size (N dynamic: flip TTA runs a batch of 2), output ``depth_norm``
N×1×H×W, depth divided by ``max_depth_m``. Resizing a photo to H×W, the flip TTA, the upsampling back and the
scaling to metres stay in ``predict``, which runs them the same way for both backends. The graph's metadata names
the weights (name, SHA-256), the input size, ``max_depth_m`` and what the output means; loading it back checks
them against the shipped ``meta.json``.

TorchScript-based export (``dynamo=False``): it needs no onnxscript, and exporting the same weights twice gives the
same bytes (tested). Opset 17, which ONNX Runtime's CPU provider runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ._io import atomic_path, refuse_to_replace

__all__ = ["OPSET", "export_onnx", "quantize_int8", "OnnxModel", "onnx_metadata", "check_against_weights"]

OPSET = 17
_INPUT, _OUTPUT = "rgb", "depth_norm"
_MEANING = "depth / max_depth_m (multiply by max_depth_m for metres); input RGB in [0, 1], N×3×H×W"


def _missing(e: ImportError) -> ImportError:
    return ImportError(
        f"{e.name} is not installed: pip install onnx onnxruntime (the project's 'onnx' extra: "
        "pip install -e '.[onnx]'; requirements.lock has both)"
    )


def export_onnx(weights: str | None, path: str | Path, *, overwrite: bool = False) -> dict[str, str]:
    """Export shipped ``weights`` (default: the shipped default) to ``path``; returns the graph's metadata.
    Refuses to replace an existing file unless ``overwrite``; the file appears only once it is complete and
    checked (``onnx.checker``)."""
    try:
        import onnx
    except ImportError as e:
        raise _missing(e) from None
    from .models import build_model, get_weights
    from .models.inference import fold_batchnorm

    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"--onnx {path}: give a file name ending in .onnx")
    refuse_to_replace(path, overwrite=overwrite)
    w = get_weights(weights)
    model = build_model(w.model, weights=w.name).eval()
    fold_batchnorm(model)
    h, wd = w.image_size
    meta = {
        "weights": w.name,
        "weights_sha256": w.meta["sha256"],
        "model": w.model,
        "image_size_hw": f"{h}x{wd}",
        "max_depth_m": repr(w.max_depth),
        "output": _MEANING,
        "batchnorm": "folded into the convolutions",
    }
    with atomic_path(path, ".onnx") as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            # the input checks (sizes, multiples of 32) are constants at the one input size the graph takes
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                model,
                (torch.rand(1, 3, h, wd),),
                str(tmp),
                dynamo=False,
                opset_version=OPSET,
                input_names=[_INPUT],
                output_names=[_OUTPUT],
                dynamic_axes={_INPUT: {0: "batch"}, _OUTPUT: {0: "batch"}},
            )
        proto = onnx.load(str(tmp))
        meta["graph_weights_sha256"] = _graph_weights_sha256(proto)  # the tensors in the graph, as exported
        for k, v in meta.items():
            proto.metadata_props.add(key=f"depthutils.{k}", value=v)
        proto.doc_string = f"depthutils: shipped weights {w.name} ({w.model}); {_MEANING}"
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))
    return meta


def quantize_int8(src: str | Path, dst: str | Path, calibration: torch.Tensor) -> None:
    """ONNX Runtime's static int8 quantization of an exported graph (QDQ: int8 weights, uint8 activations), its
    activation ranges calibrated on ``calibration`` (N×3×H×W in [0, 1] at the graph's input size; real photos,
    e.g. training images). Static, not dynamic: dynamic quantization turns convolutions into ConvInteger, which ran
    4× slower than fp32 here (shipped RegNet UNet, batch 2: 134 against 32 ms), while QDQ ran 3× faster. The result
    is approximate: report its accuracy beside the fp32 graph's before using it. The quantized graph keeps no
    ``depthutils`` metadata (ONNX Runtime's pre-processing drops it): it is for measuring, not for ``predict``.
    Tried on the shipped RegNet UNet (validation δ1 0.571 in fp32): per-tensor 0.408, per-channel 0.408, per-channel
    with percentile calibration on 64 images 0.334, convolutions only 0.417, without the first and last
    convolution 0.35."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        raise _missing(e) from None

    class _Images(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calibration[i : i + 1].float().numpy() for i in range(len(calibration)))

        def get_next(self) -> dict[str, Any] | None:
            x = next(self._it, None)
            return None if x is None else {_INPUT: x}

    src, dst = Path(src).resolve(), Path(dst).resolve()
    # ONNX Runtime writes scratch files into the working directory (sym_shape_infer_temp.onnx, 19 MB *.data
    # files of the calibration) and leaves some behind: it works in a temporary one
    with tempfile.TemporaryDirectory() as work, _chdir(work), atomic_path(dst, ".onnx") as tmp:
        pre = Path(work) / "pre.onnx"  # shapes inferred and the graph optimised, as quantization wants it
        try:
            quant_pre_process(str(src), str(pre))
        except Exception as e:  # noqa: BLE001 — ONNX Runtime raises a bare Exception when it gives up
            if "symbolic shape inference" not in str(e):
                raise
            # the EfficientNet-Lite UNets' graphs defeat ONNX Runtime's symbolic shape inference ("Incomplete
            # symbolic shape inference"); ONNX's own shape inference is enough for their static input size
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        kw = dict(quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        quantize_static(str(pre), str(tmp), _Images(), **kw)


@contextlib.contextmanager
def _chdir(path: str | Path) -> Iterator[None]:
    """The working directory ``path`` for the block (contextlib.chdir is Python 3.11+; this package supports 3.10).
    It is the process's: not for threads that rely on the working directory meanwhile."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _graph_weights_sha256(proto: Any) -> str:
    """SHA-256 over the graph's initializers (name, type, shape and bytes), in name order: what the graph
    computes with, apart from its structure."""
    import hashlib

    from onnx import numpy_helper

    h = hashlib.sha256()
    for init in sorted(proto.graph.initializer, key=lambda t: t.name):
        a = numpy_helper.to_array(init)
        h.update(f"{init.name}|{a.dtype}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def onnx_metadata(path: str | Path, *, verify: bool = False) -> dict[str, str]:
    """The ``depthutils.*`` metadata of an exported graph (prefix removed). With ``verify``, the graph's tensors
    are checked against the SHA-256 recorded at export: a graph whose weights were changed afterwards is refused."""
    try:
        import onnx
    except ImportError as e:
        raise _missing(e) from None
    proto = onnx.load(str(path))
    meta = {p.key.removeprefix("depthutils."): p.value for p in proto.metadata_props if p.key.startswith("depthutils.")}
    if verify and meta.get("graph_weights_sha256") != _graph_weights_sha256(proto):
        from .models.weights import WeightsError

        raise WeightsError(
            f"{path}: the graph's weights do not match the SHA-256 recorded when it was exported (or it records "
            f"none): export it again, python -m depthutils export --weights {meta.get('weights', 'NAME')} "
            f"--onnx {path} --overwrite"
        )
    return meta


class OnnxModel(nn.Module):
    """An ONNX Runtime session (CPU) in the place of the torch model: ``forward`` takes N×3×H×W float in [0, 1]
    (a torch tensor) and returns N×1×H×W, so ``predict_image`` runs it as it runs the torch model. ``verify``
    (default) checks the graph's tensors against the SHA-256 recorded at export."""

    def __init__(self, path: str | Path, *, threads: int | None = None, verify: bool = True, spin: bool = True):
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise _missing(e) from None
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(
                f"no ONNX file at {self.path}: export one first, python -m depthutils export --weights NAME "
                f"--onnx {self.path}"
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.log_severity_level = 3  # errors only: no per-node warnings on stderr
        if not spin:  # its threads busy-wait after each run (ONNX Runtime's default), slowing whatever runs next
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.meta = onnx_metadata(self.path, verify=verify)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run([_OUTPUT], {_INPUT: x.detach().float().cpu().contiguous().numpy()})[0]
        return torch.from_numpy(out).to(x.device)


def check_against_weights(meta: dict[str, str], path: Path) -> dict[str, Any]:
    """The shipped weights an exported graph says it holds, checked against their ``meta.json``: the same
    SHA-256, input size and ``max_depth_m``. Returns the weights' record for the predictor."""
    from .models import get_weights
    from .models.weights import WeightsError

    if "weights" not in meta:
        raise WeightsError(f"{path} has no depthutils metadata: export it with python -m depthutils export --onnx")
    w = get_weights(meta["weights"])
    h, wd = w.image_size
    want = {"weights_sha256": w.meta["sha256"], "image_size_hw": f"{h}x{wd}", "max_depth_m": repr(w.max_depth)}
    differ = {k: (meta.get(k), v) for k, v in want.items() if meta.get(k) != v}
    if differ:
        detail = json.dumps({k: {"onnx": a, "shipped": b} for k, (a, b) in differ.items()})
        raise WeightsError(
            f"{path} was exported from other weights than the shipped {w.name} ({detail}); export it again: "
            f"python -m depthutils export --weights {w.name} --onnx {path} --overwrite"
        )
    return {"weights": w.name, "sha256": w.meta["sha256"], "model": w.model, "data_kind": "real"}
