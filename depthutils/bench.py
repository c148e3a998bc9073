"""Benchmark: the engine's training step against a plain course-project loop, in the same run.

engine:    ``engine.train_step``, the very function ``fit`` calls: the dataset lives on the device as uint8;
           augmentation is batched on the device (transforms.augment_batch); channels_last; precision ``auto``
           (bf16 autocast on CUDA and on CPUs with native bf16, else fp32); cudnn.benchmark and fused Adam on CUDA.
reference: ``torch.utils.data.DataLoader`` (default settings) over a Dataset of PIL images with per-sample
           torchvision transforms (rotation, crop, flip, colour jitter, resize, to-tensor), fp32, NCHW,
           default Adam: what a typical course project writes.

Both train the same model on the same images (synthetic rooms, rendered here) at the same size and batch.
Each is warmed up, then timed over several windows (CUDA synchronised at window edges only); the median
window gives images/s. ``speedup = engine / reference``.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ._env import device_name, git_commit, resolve_device, versions
from ._io import write_json_atomic, write_text_atomic
from .data.synthetic import render_scene
from .losses import l1_loss
from .models import build_model, list_models
from .models.inference import fold_batchnorm
from .models.weights import DEFAULT_WEIGHTS
from .study import report_rows

__all__ = ["run_bench", "run_zoo_bench", "engine_step_fn", "reference_loader", "BF16_PEAK_TFLOPS", "ZOO_REFERENCES"]

#: Dense bf16 tensor-core peak (TFLOP/s) by device-name fragment, for MFU.
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "RTX 4090": 165.0,
}


def _peak_flops(name: str) -> float | None:
    for frag, tf in BF16_PEAK_TFLOPS.items():
        if frag in name:
            return tf * 1e12
    return None


def _images(n: int, size_wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    out = [render_scene(123, i, *size_wh) for i in range(n)]
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _timed(step: Callable[[], int], dev: torch.device, *, warmup: int, windows: int, steps: int) -> dict[str, Any]:
    for _ in range(warmup):
        step()
    _sync(dev)
    rates = []
    for _ in range(windows):
        t0 = time.perf_counter()
        n = sum(step() for _ in range(steps))
        _sync(dev)
        rates.append(n / (time.perf_counter() - t0))
    return {"img_s": statistics.median(rates), "windows_img_s": rates}


def _profile_step(step: Callable[[], int], dev: torch.device, *, n_steps: int = 3, top: int = 12) -> dict[str, Any]:
    """``n_steps`` engine steps under torch.profiler (after the timed windows): the wall time of a step under the
    profiler, the CPU time of its operators (the host side: near the wall time, launching kernels is the limit,
    which torch.compile and CUDA graphs attack; summed over threads, and autograd runs the backward on a thread of
    its own, so it can exceed the wall time), on CUDA the GPU's kernel time (its ratio to the wall time is how busy
    the GPU was), and the operators with the most self time on the device (CUDA) or the CPU, as torch.profiler's
    table."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    _sync(dev)
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        for _ in range(n_steps):
            step()
        _sync(dev)
    wall = (time.perf_counter() - t0) / n_steps
    avg = prof.key_averages()
    sort = "self_device_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    kernels = sum(e.self_device_time_total for e in avg if e.device_type == DeviceType.CUDA) / 1e6 / n_steps
    return {
        "steps": n_steps,
        "wall_s_per_step": wall,
        "host_op_s_per_step": sum(e.self_cpu_time_total for e in avg) / 1e6 / n_steps,
        "gpu_kernel_s_per_step": kernels if dev.type == "cuda" else None,
        "sort": sort,
        "table": avg.table(sort_by=sort, row_limit=top, max_name_column_width=60),
    }


def engine_step_fn(
    model_name: str,
    rgb: np.ndarray,
    depth: np.ndarray,
    *,
    dev: torch.device,
    size: tuple[int, int],
    batch: int,
    precision: str = "auto",
    compile: bool = False,
) -> tuple[Callable[[], int], torch.nn.Module]:
    """A closure that runs one :func:`depthutils.engine.train_step` (the function ``fit`` calls) per call, on
    device-resident uint8 data, as ``fit`` does: channels_last, the run's precision, Adam (fused on CUDA), the
    model under ``torch.compile`` when ``compile`` (as ``--compile`` trains). Returns it and the plain model."""
    from . import engine

    precision = engine.resolve_precision(precision, dev)
    model = build_model(model_name, pretrained=False).to(dev).train().to(memory_format=torch.channels_last)
    opt = engine.make_optimizer("adam", model.parameters(), lr=1e-4, weight_decay=0.0, device=dev)
    x_all = torch.from_numpy(rgb.transpose(0, 3, 1, 2).copy()).to(dev)  # uint8 N×3×H×W, resident
    d_all = torch.from_numpy(depth[:, None].copy()).to(dev)
    g = torch.Generator(device=dev).manual_seed(0)
    # shares the parameters the optimiser holds; torch.compile of a module is a module (its stub says Callable)
    step_model = cast(torch.nn.Module, torch.compile(model)) if compile else model

    def step() -> int:
        idx = torch.randint(0, x_all.shape[0], (batch,), device=dev, generator=g)
        engine.train_step(
            step_model,
            opt,
            l1_loss,
            x_all[idx],
            d_all[idx],
            image_size=size,
            max_depth=10.0,
            precision=precision,
            generator=g,
        )
        return batch

    return step, model


def reference_loader(rgb: np.ndarray, depth: np.ndarray, *, size: tuple[int, int], batch: int):
    """The plain baseline: per-sample PIL/torchvision transforms in a default DataLoader."""
    import random

    import torchvision.transforms.functional as TF
    from PIL import Image

    class PlainDataset(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(rgb)

        def __getitem__(self, i: int):
            im, dp = Image.fromarray(rgb[i]), Image.fromarray(depth[i])
            angle = random.uniform(-5, 5)
            im, dp = TF.rotate(im, angle, interpolation=TF.InterpolationMode.BILINEAR), TF.rotate(dp, angle)
            h, w = rgb.shape[1:3]
            s = min(h, w)
            top, left = random.randint(0, h - s), random.randint(0, w - s)
            im, dp = TF.crop(im, top, left, s, s), TF.crop(dp, top, left, s, s)
            if random.random() < 0.5:
                im, dp = TF.hflip(im), TF.hflip(dp)
            im = TF.adjust_brightness(im, random.uniform(0.8, 1.2))
            im = TF.resize(im, list(size), interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
            dp = TF.resize(dp, list(size), interpolation=TF.InterpolationMode.NEAREST)
            x = TF.to_tensor(im)
            d = torch.from_numpy(np.asarray(dp, dtype=np.float32).copy())[None]
            return x, d

    return torch.utils.data.DataLoader(PlainDataset(), batch_size=batch, shuffle=True, drop_last=True)


def _reference_step_fn(model_name: str, rgb, depth, *, dev, size, batch) -> Callable[[], int]:
    model = build_model(model_name, pretrained=False).to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loader = reference_loader(rgb, depth, size=size, batch=batch)
    it = iter(loader)

    def step() -> int:
        nonlocal it
        try:
            x, d = next(it)
        except StopIteration:
            it = iter(loader)
            x, d = next(it)
        x, d = x.to(dev), d.to(dev)
        loss = l1_loss(model(x), (d / 10).clamp(0, 1), d > 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return x.shape[0]

    return step


def _train_flops(model: torch.nn.Module, dev: torch.device, size: tuple[int, int], batch: int, precision: str) -> float:
    """FLOPs of one forward + backward per image (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    from . import engine

    x = torch.rand(batch, 3, *size, device=dev)
    with FlopCounterMode(display=False) as fc:
        with engine.autocast(dev, precision):
            model(x).float().mean().backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / batch


@torch.no_grad()
def _latency(model_name: str, dev: torch.device, size: tuple[int, int], reps: int, precision: str) -> float:
    """Median seconds to predict one 640×480 photo (resize → model, BatchNorm folded → upsample), the predict
    path."""
    from .predict import predict_image

    model = build_model(model_name, pretrained=False).to(dev).eval()
    fold_batchnorm(model)  # as load_predictor does
    img = render_scene(7, 0, 640, 480)[0]
    predict_image(model, img, image_size=size, max_depth=10.0, precision=precision)
    times = []
    for _ in range(reps):
        _sync(dev)
        t0 = time.perf_counter()
        predict_image(model, img, image_size=size, max_depth=10.0, precision=precision)
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _eval_time(
    model_name: str, dev: torch.device, size: tuple[int, int], rgb, depth, n_test: int, precision: str
) -> float:
    """Seconds to evaluate ``n_test`` images with engine.evaluate, report protocol (the images cycle through the
    rendered set)."""
    from .data.dataset import DepthData
    from .engine import DeviceData, evaluate

    idx = np.arange(n_test) % len(rgb)
    data = DepthData(rgb[idx], depth[idx], np.arange(0), np.arange(n_test))
    test = DeviceData(data, data.test, dev)
    model = build_model(model_name, pretrained=False).to(dev).eval()
    evaluate(model, DeviceData(data, data.test[:8], dev), image_size=size, precision=precision)  # warm-up
    _sync(dev)
    t0 = time.perf_counter()
    evaluate(model, test, image_size=size, batch_size=64, precision=precision)
    _sync(dev)
    return time.perf_counter() - t0


def _bench_model(
    name: str,
    rgb: np.ndarray,
    depth: np.ndarray,
    *,
    dev: torch.device,
    size: tuple[int, int],
    batch: int,
    precision: str,
    quick: bool,
    peak: float | None,
    timing: tuple[int, int, int],
    compile: bool = False,
    profile: bool = False,
) -> dict[str, Any]:
    """One model's row of the benchmark: the engine's training step against the plain reference loop (img/s,
    timed windows; on CUDA peak memory, FLOPs and MFU against ``peak``; with ``profile``, a profile of the
    engine's step), latency on a 640×480 photo and the time of a test-set evaluation. ``timing``: (warm-up
    steps, windows, steps per window)."""
    warmup, windows, steps = timing
    torch.manual_seed(0)
    step, model = engine_step_fn(
        name, rgb, depth, dev=dev, size=size, batch=batch, precision=precision, compile=compile
    )
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    eng = _timed(step, dev, warmup=warmup, windows=windows, steps=steps)
    row: dict[str, Any] = {"engine_img_s": eng["img_s"], "engine_windows": eng["windows_img_s"]}
    if dev.type == "cuda":
        row["peak_gpu_mem_gb"] = torch.cuda.max_memory_allocated(dev) / 1024**3
        flops = _train_flops(model, dev, size, batch, precision)
        row["train_flops_per_image"] = flops
        row["achieved_tflops"] = flops * eng["img_s"] / 1e12
        row["mfu"] = flops * eng["img_s"] / peak if peak else None
    if profile:
        row["profile"] = _profile_step(step, dev)
    del model, step
    ref = _timed(
        _reference_step_fn(name, rgb, depth, dev=dev, size=size, batch=batch),
        dev,
        warmup=warmup,
        windows=windows,
        steps=steps,
    )
    row.update(
        reference_img_s=ref["img_s"], reference_windows=ref["windows_img_s"], speedup=eng["img_s"] / ref["img_s"]
    )
    row["latency_640x480_s"] = _latency(name, dev, size, reps=1 if quick else 10, precision=precision)
    row["eval_654_s"] = _eval_time(name, dev, size, rgb, depth, 4 if quick else 654, precision)
    print(
        f"{name}: engine {row['engine_img_s']:.1f} img/s, reference {row['reference_img_s']:.1f} img/s, "
        f"speedup {row['speedup']:.2f}" + (f", mfu {row['mfu']:.3f}" if row.get("mfu") else ""),
        flush=True,
    )
    return row


def _scaling_resnet_unet(
    rgb: np.ndarray, depth: np.ndarray, *, dev: torch.device, batch: int, precision: str, quick: bool
) -> dict[str, Any]:
    """resnet_unet's training throughput at growing resolutions (the batch shrinks with the image so that it fits):
    H×W → batch, img/s, pixels/s."""
    sizes = [(32, 32), (64, 64)] if quick else [(128, 128), (256, 256), (480, 640)]
    scaling: dict[str, Any] = {}
    for hw in sizes:
        b = batch if hw[0] <= 128 else max(2, batch // (4 if hw[0] <= 256 else 16))
        big_rgb, big_depth = (rgb, depth) if hw[0] <= 144 else _images(max(4, b), (hw[1], hw[0]))
        step, model = engine_step_fn("resnet_unet", big_rgb, big_depth, dev=dev, size=hw, batch=b, precision=precision)
        t = _timed(step, dev, warmup=1, windows=2 if quick else 3, steps=1 if dev.type == "cpu" else 3)
        scaling[f"{hw[0]}x{hw[1]}"] = {
            "batch": b,
            "img_s": t["img_s"],
            "pixels_per_s": t["img_s"] * hw[0] * hw[1],
        }
        del model, step
    return scaling


def _whole_study_s(models: dict[str, Any]) -> float | None:
    """Every row of the report's table on its schedule, from the measured engine throughput: extrapolated, not
    measured (None unless every row's model was measured)."""
    if not all(r.model in models for r in report_rows()):
        return None
    study = 0.0
    for row_ in report_rows():  # the official split: 715 training images after the validation hold-out
        r = models[row_.model]
        study += row_.epochs * (715 / r["engine_img_s"] + r["eval_654_s"] / 8)  # ~10 test evaluations a run
    return study


def run_bench(
    *,
    device: str = "cpu",
    quick: bool = False,
    out: str | Path | None = None,
    models: str | None = None,
    precision: str = "auto",
    batch: int | None = None,
    compile: bool = False,
    profile: bool = False,
    image_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Measure and write ``out`` (default ``report/generated/benchmark-<device>.json`` under the working
    directory) and its ``.md``; returns the JSON dict. ``batch`` replaces the engine's and the reference's batch
    (64; 2 with ``quick``), ``compile`` runs the engine's model under torch.compile, ``profile`` adds a profile of each
    engine step. ``image_size`` (H, W) replaces the report's 128×128 input, from synthetic frames of that size
    (default: 0.3-scale NYU frames of 192×144, whose 144×144 crop resizes to 128×128)."""
    from .engine import resolve_precision

    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    names = models.split(",") if models else list_models()
    size = image_size or ((32, 32) if quick else (128, 128))  # quick: keeps the benchmark working in CI
    frames_wh = (size[1], size[0]) if image_size else (192, 144)
    batch = batch or (2 if quick else 64)
    n_img = max(4 if quick else 128, batch)  # the reference loader drops a last partial batch: at least one full
    # CPU: 2 warm-up steps (oneDNN builds its kernels for each shape on the first), then 5 windows of 2 steps
    warmup, windows, steps = (1, 2, 1) if quick else ((3, 5, 5) if dev.type == "cuda" else (2, 5, 2))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    rgb, depth = _images(n_img, frames_wh)
    res: dict[str, Any] = {
        "device": device_name(dev),
        "device_type": dev.type,
        "versions": versions(),
        "git_commit": git_commit(),
        "quick": quick,
        "image_size": list(size),
        "batch_size": batch,
        "compile": compile,
        "predict_bn_folded": True,  # latency through predict, which folds BatchNorm (before 2026-12-04: not)
        "precision": precision,
        "data": f"{n_img} synthetic rooms at {frames_wh[0]}x{frames_wh[1]}",
        "method": "median of timed windows after warm-up; engine and reference in the same process and run",
        "models": {},
    }
    peak = _peak_flops(res["device"]) if dev.type == "cuda" else None
    out = (
        Path(out) if out else Path("report") / "generated" / f"benchmark-{dev.type}.json"
    )  # relative to the working directory
    for name in names:
        res["models"][name] = _bench_model(
            name,
            rgb,
            depth,
            dev=dev,
            size=size,
            batch=batch,
            precision=precision,
            quick=quick,
            peak=peak,
            timing=(warmup, windows, steps),
            compile=compile,
            profile=profile,
        )
        _write(out, {**res, "partial": True}, bench_markdown)  # a run stopped later keeps its finished models

    res["whole_study_train_s_extrapolated"] = _whole_study_s(res["models"])

    # Scaling: resnet_unet throughput with growing resolution.
    if "resnet_unet" in names:
        res["scaling_resnet_unet"] = _scaling_resnet_unet(
            rgb, depth, dev=dev, batch=batch, precision=precision, quick=quick
        )
    _write(out, res, bench_markdown)
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return res


def _write(out: Path, res: dict[str, Any], markdown: Callable[[dict[str, Any]], str]) -> None:
    write_json_atomic(out, res)
    write_text_atomic(out.with_suffix(".md"), markdown(res))


def bench_markdown(res: dict[str, Any]) -> str:
    def f(v, nd=2):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"

    compiled = " (engine step under torch.compile; latency, evaluation and scaling are not compiled)"
    lines = [
        "<!-- generated by python -m depthutils bench; do not edit -->",
        "",
        f"# Benchmark on {res['device']}{' (quick mode: tiny sizes, not a measurement)' if res['quick'] else ''}"
        f"{' (partial: stopped before every model was measured)' if res.get('partial') else ''}",
        "",
        f"Training step (forward + backward + Adam) at {res['image_size'][0]}×{res['image_size'][1]}, "
        f"batch {res['batch_size']}, engine precision {res.get('precision', 'fp32')} (reference: fp32)"
        f"{compiled if res.get('compile') else ''}, "
        f"{res['data']}. {res['method'][0].upper() + res['method'][1:]}. Commit {res['git_commit']}, "
        f"torch {res['versions']['torch']}."
        + (" Latency through predict, BatchNorm folded." if res.get("predict_bn_folded") else ""),
        "",
        "| model | engine img/s | reference img/s | speedup | MFU | peak GPU mem [GB] | latency 640×480 [ms] "
        "| eval 654 [s] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in res["models"].items():
        lines.append(
            f"| {name} | {f(r['engine_img_s'], 1)} | {f(r['reference_img_s'], 1)} | {f(r['speedup'])} | "
            f"{f(r.get('mfu'), 3)} | {f(r.get('peak_gpu_mem_gb'))} | {f(r['latency_640x480_s'] * 1000, 0)} | "
            f"{f(r['eval_654_s'], 1)} |"
        )
    if res.get("whole_study_train_s_extrapolated"):
        lines += [
            "",
            f"Whole study (all 8 table rows on the report's schedule, 715 training images of the "
            f"official split, about 10 test evaluations a run, engine throughput): "
            f"**{res['whole_study_train_s_extrapolated'] / 60:.1f} min, extrapolated** from the "
            "measured throughput and evaluation time, not measured end to end.",
        ]
    if res.get("scaling_resnet_unet"):
        lines += [
            "",
            "Scaling of `resnet_unet` with resolution:",
            "",
            "| size | batch | img/s | Mpixel/s |",
            "|---|---|---|---|",
        ]
        for k, v in res["scaling_resnet_unet"].items():
            lines.append(f"| {k} | {v['batch']} | {f(v['img_s'], 2)} | {f(v['pixels_per_s'] / 1e6, 2)} |")
    for name, r in res["models"].items():
        if p := r.get("profile"):
            gpu = p["gpu_kernel_s_per_step"]
            lines += [
                "",
                f"Profile of one engine step of `{name}` ({p['steps']} steps under torch.profiler): "
                f"{p['wall_s_per_step'] * 1000:.1f} ms wall, {p['host_op_s_per_step'] * 1000:.1f} ms of CPU in "
                f"operators" + (f", {gpu * 1000:.1f} ms of GPU kernels" if gpu is not None else "") + ".",
                "",
                "```",
                p["table"].rstrip(),
                "```",
            ]
    return "\n".join(lines) + "\n"


#: The rows of the speed comparison beside the shipped weights: (label, architecture, input H×W, batch). The
#: improved row (the study's best, 50 MB in fp16: not shipped) is the speed [compact] is measured against.
ZOO_REFERENCES = [("improved row (not shipped)", "resnete_decoder_v3", (96, 128), 16)]


def run_zoo_bench(
    *, out: str | Path | None = None, rounds: int = 7, train_steps: int = 3, data: str | Path | None = None
) -> dict[str, Any]:
    """Speed of every shipped model beside the improved row's architecture, on the CPU, in one run: ms per
    640×480 JPEG as ``predict`` runs it (decode → resize → model with flip TTA → upsample), in ``rounds`` rounds that
    visit every variant in turn, so that a slow spell of a shared machine hits them alike (medians; ratios are
    medians of the per-round ratios). Variants: torch as trained, torch with BatchNorm folded (what predict
    runs), and for the shipped models their ONNX export in ONNX Runtime (fp32) and, with ``data`` (the shipped
    models' training data: it calibrates the quantization and scores it), the export quantized to int8. The
    model's forward pass alone (a batch of 2: flip TTA) is timed the same way. Training images/s of the engine's
    step at each recipe's input size and batch (bf16 where the CPU has it). Each row's predict time is also given
    over the default weights' (the median of the per-round ratios: a new default is to be no slower). Writes
    ``report/generated/benchmark-zoo-cpu.{json,md}``."""
    import tempfile

    from .engine import resolve_precision

    dev = torch.device("cpu")
    rows = _zoo_rows()
    with tempfile.TemporaryDirectory() as tmp:
        jpeg = Path(tmp) / "room.jpg"  # one synthetic 640×480 room, decoded in every timed predict
        from PIL import Image

        Image.fromarray(render_scene(7, 0, 640, 480)[0]).save(jpeg, quality=92)
        models, val = _zoo_models(rows, Path(tmp), data)
        e2e, fwd = _zoo_times(models, {r["label"]: r["size"] for r in rows}, jpeg, rounds)
    rgb, depth = _images(32, (256, 192))
    for r in rows:
        _zoo_row_times(r, e2e, fwd)
        if r["label"] in val:
            r["val_delta1"] = val[r["label"]]
        step, _ = engine_step_fn(r["model"], rgb, depth, dev=dev, size=r["size"], batch=r["batch"])
        r["train_img_s"] = _timed(step, dev, warmup=1, windows=train_steps, steps=1)["img_s"]
        r["size"] = list(r["size"])
    ref = next(r for r in rows if r["weights"] is None)
    default = next((r for r in rows if r["weights"] == DEFAULT_WEIGHTS), None)
    for r in rows:
        r["predict_time_ratio_to_improved"] = r["predict_ms_640x480"] / ref["predict_ms_640x480"]
        r["train_speed_ratio_to_improved"] = r["train_img_s"] / ref["train_img_s"]
        if default is not None:  # paired by round: a slow spell of the machine hits both models of a round alike
            rounds_ = zip(r["predict_ms_rounds"], default["predict_ms_rounds"])
            r["predict_time_ratio_to_default"] = statistics.median(a / b for a, b in rounds_)
    res = {
        "device": device_name(dev),
        "threads": torch.get_num_threads(),
        "versions": {**versions(), **_onnx_versions()},
        "git_commit": git_commit(),
        "precision_predict": "fp32",
        "precision_train": resolve_precision("auto", dev),
        "method": f"predict: median of {rounds} interleaved rounds after a warm-up, one synthetic 640x480 room "
        "decoded from a JPEG each time, flip TTA on; forward: the model alone on a batch of 2 at its input size, "
        f"the same rounds; train: median of {train_steps} engine steps after one warm-up, 32 synthetic 256x192 rooms; "
        "ONNX Runtime sessions without thread spinning",
        "int8": _INT8_NOTE if val else None,
        "default_weights": DEFAULT_WEIGHTS,
        "rows": rows,
    }
    out = Path(out) if out else Path("report") / "generated" / "benchmark-zoo-cpu.json"
    _write(out, res, zoo_bench_markdown)
    print(zoo_bench_markdown(res))
    return res


#: Variants timed per model: torch as trained, torch folded (predict's), ONNX Runtime fp32 and int8 (shipped only).
_VARIANTS = ("eager", "folded", "onnx", "int8")
_INT8_NOTE = (
    "ONNX Runtime static int8 (QDQ) calibrated on 16 training images of the model's split; validation δ1: "
    "standard protocol on the split's validation images at the stored resolution, flip TTA, as the ladders score"
)


def _zoo_rows() -> list[dict[str, Any]]:
    from .models import get_weights, list_weights

    rows: list[dict[str, Any]] = []
    for name in list_weights():
        w = get_weights(name)
        batch = int(w.meta["recipe"]["batch_size"])
        rows.append({"label": name, "weights": name, "model": w.model, "size": w.image_size, "batch": batch})
    rows += [{"label": lab, "weights": None, "model": m, "size": s, "batch": b} for lab, m, s, b in ZOO_REFERENCES]
    return rows


def _onnx_versions() -> dict[str, str]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        return {}
    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _zoo_models(
    rows: list[dict[str, Any]], tmp: Path, data: str | Path | None
) -> tuple[dict[tuple[str, str], torch.nn.Module], dict[str, dict[str, float]]]:
    """Every (label, variant) model, and with ``data`` the shipped models' validation δ1 per variant."""
    models: dict[tuple[str, str], torch.nn.Module] = {}
    val: dict[str, dict[str, float]] = {}
    for r in rows:
        plain = build_model(r["model"], weights=r["weights"]) if r["weights"] else build_model(r["model"])
        models[r["label"], "eager"] = plain.eval()
        models[r["label"], "folded"] = copy.deepcopy(plain)
        fold_batchnorm(models[r["label"], "folded"])  # as load_predictor does
        if r["weights"] is None or not _onnx_versions():
            continue
        from .onnx_backend import OnnxModel, export_onnx, quantize_int8

        path = tmp / f"{r['label']}.onnx"
        export_onnx(r["weights"], path)
        # without spinning: ONNX Runtime's threads busy-wait after a run, and the torch variant timed next in the
        # round ran up to 2× slow (the unfolded column read 0.45 where the folded ÷ unfolded forward was 0.93)
        models[r["label"], "onnx"] = OnnxModel(path, spin=False)
        if data is not None:
            vdata, calib = _validation_images(r["weights"], data)
            quantize_int8(path, tmp / f"{r['label']}-int8.onnx", calib)
            int8 = tmp / f"{r['label']}-int8.onnx"
            models[r["label"], "int8"] = OnnxModel(int8, verify=False, spin=False)  # no metadata
            val[r["label"]] = {v: _val_delta1(models[r["label"], v], vdata, r) for v in ("folded", "onnx", "int8")}
    return models, val


def _validation_images(weights: str, data: str | Path) -> tuple[Any, torch.Tensor]:
    """(the shipped model's data with its split's validation images, 16 of its training images at the model's
    input size as N×3×H×W in [0, 1] for calibration)."""
    import torch.nn.functional as F

    from .config import TrainConfig
    from .data import load_data
    from .models import get_weights

    w = get_weights(weights)
    cfg = TrainConfig.from_dict({**w.meta["recipe"], "data": str(data), "gt_data": None, "init_from": None})
    d = load_data(cfg)
    x = torch.from_numpy(d.rgb[d.train[:16]]).permute(0, 3, 1, 2).float() / 255
    return d, F.interpolate(x, size=w.image_size, mode="bilinear", antialias=True, align_corners=False)


def _val_delta1(model: torch.nn.Module, data: Any, row: dict[str, Any]) -> float:
    from .engine import DeviceData, evaluate

    kw: dict[str, Any] = dict(image_size=tuple(row["size"]), protocol="standard", precision="fp32", flip_tta=True)
    return float(evaluate(model, DeviceData(data, data.val, torch.device("cpu")), **kw)["delta1"])


def _zoo_times(
    models: dict[tuple[str, str], torch.nn.Module], size: dict[str, tuple[int, int]], jpeg: Path, rounds: int
) -> tuple[dict[tuple[str, str], list[float]], dict[tuple[str, str], list[float]]]:
    """Seconds per round of every variant: end to end (decode + predict) and the forward pass alone."""
    from .data.folder import read_rgb
    from .predict import predict_image

    e2e: dict[tuple[str, str], list[float]] = {k: [] for k in models}
    fwd: dict[tuple[str, str], list[float]] = {k: [] for k in models}
    xs = {k: torch.rand(2, 3, *size[k[0]], generator=torch.Generator().manual_seed(0)) for k in models}
    with torch.no_grad():
        for k, m in models.items():  # warm-up
            predict_image(m, read_rgb(jpeg), image_size=size[k[0]], max_depth=10.0, flip_tta=True)
            m(xs[k])
        for _ in range(rounds):
            for k, m in models.items():
                t0 = time.perf_counter()
                predict_image(m, read_rgb(jpeg), image_size=size[k[0]], max_depth=10.0, flip_tta=True)
                t1 = time.perf_counter()
                m(xs[k])
                e2e[k].append(t1 - t0)
                fwd[k].append(time.perf_counter() - t1)
    return e2e, fwd


def _zoo_row_times(r: dict[str, Any], e2e: dict, fwd: dict) -> None:
    """The row's medians (ms) and per-round ratios; the keys of earlier benchmarks are kept."""
    lab = r["label"]
    r["predict_ms_640x480"] = 1000 * statistics.median(e2e[lab, "folded"])
    r["predict_ms_rounds"] = [1000 * t for t in e2e[lab, "folded"]]
    r["predict_ms_not_folded"] = 1000 * statistics.median(e2e[lab, "eager"])
    r["predict_ms_rounds_not_folded"] = [1000 * t for t in e2e[lab, "eager"]]
    r["fold_time_ratio"] = statistics.median(a / b for a, b in zip(e2e[lab, "folded"], e2e[lab, "eager"]))
    r["variants"] = {}
    for v in _VARIANTS:
        if (lab, v) not in e2e:
            continue
        r["variants"][v] = {
            "predict_ms": 1000 * statistics.median(e2e[lab, v]),
            "forward_ms": 1000 * statistics.median(fwd[lab, v]),
            "predict_ratio_to_folded": statistics.median(a / b for a, b in zip(e2e[lab, v], e2e[lab, "folded"])),
            "forward_ratio_to_folded": statistics.median(a / b for a, b in zip(fwd[lab, v], fwd[lab, "folded"])),
        }


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"  # – : a benchmark from before the key


def zoo_bench_markdown(res: dict[str, Any]) -> str:
    lines = [
        "<!-- generated by python -m depthutils bench --zoo; do not edit -->",
        "",
        f"Speed on {res['device']} (one run; {res['method']}). Predict in {res['precision_predict']}, training "
        f"in {res['precision_train']}. Ratios are to the improved row in the same run, and (÷ default) to the "
        f"default weights {res.get('default_weights', '–')}: the median of the per-round ratios, the rounds "
        "interleaved.",
        "",
        "| model | input H×W | predict ms / 640×480 photo | × improved | ÷ default (median of rounds) | BatchNorm not "
        "folded: ms (folded ÷ not, median of rounds) | train img/s (batch) | × improved |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        unfolded = r.get("predict_ms_not_folded")  # absent from benchmarks before the fold
        fold = "–" if unfolded is None else f"{unfolded:.0f} ({r['fold_time_ratio']:.2f})"
        lines.append(
            f"| {r['label']} (`{r['model']}`) | {r['size'][0]}×{r['size'][1]} | {r['predict_ms_640x480']:.0f} | "
            f"{r['predict_time_ratio_to_improved']:.2f} | {_ratio(r.get('predict_time_ratio_to_default'))} | {fold} | "
            f"{r['train_img_s']:.1f} ({r['batch']}) | {r['train_speed_ratio_to_improved']:.2f} |"
        )
    return "\n".join(lines + _backend_lines(res)) + "\n"


def _backend_lines(res: dict[str, Any]) -> list[str]:
    """The backends table: each variant end to end and forward only, as ratios to torch with BatchNorm folded."""
    rows = [r for r in res["rows"] if "onnx" in r.get("variants", {})]
    if not rows:
        return []
    lines = [
        "",
        f"Backends, {res['threads']} threads, "
        + ", ".join(f"{k} {v}" for k, v in res["versions"].items() if k in ("torch", "onnx", "onnxruntime"))
        + ": ms per 640×480 JPEG end to end (decode, resize, flip TTA, upsample) and of the forward pass alone "
        "(batch 2), each with its ratio to torch with BatchNorm folded (median of the per-round ratios)."
        + (
            f" int8: {res['int8']}."
            if res.get("int8")
            else " int8 not run: it is reported only with its accuracy (bench --zoo --data)."
        )
        + " An int8 row is shown with its validation δ1 beside the fp32 graph's.",
        "",
        "| model | backend | predict ms | ÷ folded | forward ms | ÷ folded | validation δ1 |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {
        "eager": "torch, as trained",
        "folded": "torch, BatchNorm folded",
        "onnx": "ONNX Runtime fp32",
        "int8": "ONNX Runtime int8 (static)",
    }
    for r in rows:
        for v, t in r["variants"].items():
            d1 = r.get("val_delta1", {}).get(v)
            lines.append(
                f"| {r['label']} | {names[v]} | {t['predict_ms']:.0f} | {t['predict_ratio_to_folded']:.2f} | "
                f"{t['forward_ms']:.0f} | {t['forward_ratio_to_folded']:.2f} | {'–' if d1 is None else f'{d1:.3f}'} |"
            )
    return lines
