"""``python -m depthutils demo``: a local web page (Gradio) where a photo becomes depth and a 3D point cloud.

One function does the work, :func:`depth_for_photo`: photo file → the photo beside its depth with a colour bar
in metres, the depth as a 3D surface (``.glb``) for Gradio's Model3D viewer, and the 16-bit PNG, ``.npy`` and the
``.ply`` point cloud to download. The page around it (:func:`build_app`) adds the inputs (upload, paste, webcam,
the example photos), a focal-length field and a note on what the model is.
Gradio is an optional extra: ``pip install -e .[demo]``.

Safety: the server binds to 127.0.0.1 unless ``--host`` says otherwise; requests wait in a queue of at most
``max_queue`` (beyond it a request is refused with a message, and the server stays up); an uploaded file is
deleted as soon as it has been read, and the outputs of a request are removed by Gradio's cache cleaner within
the hour. A bad input (not an image, huge, or unreadable) is a message in the page, never a crash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .predict import Predictor

__all__ = ["depth_for_photo", "build_app", "launch", "MAX_PHOTO_PIXELS", "WORK_SIDE"]

#: Larger photos are refused with their size (PIL's decompression-bomb guard stops far larger ones first).
MAX_PHOTO_PIXELS = 50_000_000
#: Photos are downscaled so that their longer side is at most this before prediction: the model sees 256 columns
#: anyway, and the outputs (PNG, .npy, point cloud) stay a size a browser can show.
WORK_SIDE = 1280
_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class DemoInputError(ValueError):
    """A photo the demo cannot use; the message is shown in the page."""


def _read_photo(path: str | Path) -> np.ndarray:
    """uint8 H×W×3 from any image file (EXIF, grayscale, 16-bit, RGBA, CMYK), at most WORK_SIDE on its longer
    side; a message that names the problem otherwise."""
    from PIL import Image

    from .data import DataError, read_rgb

    try:
        rgb = read_rgb(path, max_pixels=MAX_PHOTO_PIXELS)
    except DataError as e:
        msg = str(e).replace(str(path), Path(path).name)
        raise DemoInputError(f"This file cannot be used as a photo: {msg}") from None
    h, w = rgb.shape[:2]
    if max(h, w) > WORK_SIDE:
        scale = WORK_SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    return rgb


def depth_for_photo(
    predictor: Predictor, photo: str | Path, fx: float | None = None, out_dir: str | Path | None = None
) -> dict[str, Any]:
    """Everything the page shows for one photo file; the files go to ``out_dir`` (a fresh temporary folder by
    default). Returns the depth (H×W metres), the figure (uint8 image), the paths of the ``.glb``, 16-bit PNG,
    ``.npy`` and ``.ply``, the intrinsics used and their source."""
    from PIL import Image

    from .plots import close, depth_beside_input
    from .predict import camera_intrinsics, depth_png_mm, predict_image, write_glb_surface, write_ply

    if fx is not None and not (np.isfinite(fx) and fx > 0):
        raise DemoInputError(f"The focal length must be a positive number of pixels (or 0 for automatic), not {fx}.")
    rgb = _read_photo(photo)
    depth = predict_image(
        predictor.model, rgb, image_size=predictor.image_size, max_depth=predictor.max_depth, flip_tta=True
    )
    if fx is not None:  # the user's focal length is in the pixels of their photo, which may have been downscaled
        with Image.open(photo) as im:
            fx *= max(rgb.shape[:2]) / max(im.size)
    # EXIF's 35 mm-equivalent focal length and NYU's intrinsics are scaled to the size given here by the function
    intrinsics, source = camera_intrinsics(rgb.shape[1], rgb.shape[0], photo, fx)
    out = Path(out_dir or tempfile.mkdtemp(prefix="depthutils-demo-"))
    stem = "depth"
    files = {
        "glb": out / f"{stem}_surface.glb",
        "png16": out / f"{stem}_mm.png",
        "npy": out / f"{stem}_m.npy",
        "ply": out / f"{stem}_points.ply",
    }
    write_glb_surface(files["glb"], rgb, depth, intrinsics)
    write_ply(files["ply"], rgb, depth, intrinsics)
    Image.fromarray(depth_png_mm(depth)).save(files["png16"])
    np.save(files["npy"], depth)
    fig = depth_beside_input(rgb, depth, title=predictor.label)
    fig.canvas.draw()
    figure = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    close(fig)
    return {"depth": depth, "figure": figure, "files": files, "intrinsics": intrinsics, "source": source}


def _about(predictor: Predictor) -> str:
    """The note on what the model is, with the model card's headline numbers when it is shipped weights."""
    lines = [
        f"**Model:** {predictor.label}, input {predictor.image_size[0]}×{predictor.image_size[1]}.",
        "Trained **without ImageNet weights on a few hundred indoor NYU-Depth V2 frames** from one Kinect camera: "
        "rooms are what it knows. Outdoors it is out of its depth, and on other cameras its metres are rough.",
    ]
    if "weights" in predictor.source:
        from .models import get_weights

        m = get_weights(predictor.source["weights"]).meta["metrics"]["standard"]
        lines.append(
            f"NYU test set ({m['n_images']} images, standard protocol): δ1 {m['delta1']:.3f}, AbsRel "
            f"{m['abs_rel']:.3f}, RMSE {m['rmse']:.3f} m (the model card: `depthutils/weights/"
            f"{predictor.source['weights']}/README.md`)."
        )
    if predictor.synthetic:
        lines.append("**This model was trained on synthetic rooms: it is not meant for real photos.**")
    lines.append(
        "The focal length (pixels) places the points in 3D: 0 takes it from the photo's EXIF data, else NYU's "
        "Kinect. Uploaded photos are deleted once read."
    )
    return "\n\n".join(lines)


def _raw_path_on_failure(preprocess):
    """Wrap gr.Image.preprocess: a file that Gradio cannot decode is handed over as it is, so that the photo reader
    can say what is wrong with it (Gradio's own error names only the component)."""

    def wrapped(payload):
        try:
            return preprocess(payload)
        except Exception:  # noqa: BLE001 — whatever Gradio cannot read goes to _read_photo, which explains
            return getattr(payload, "path", None)

    return wrapped


def build_app(predictor: Predictor, *, max_queue: int = 8):
    """The Gradio page around :func:`depth_for_photo`."""
    import gradio as gr

    def run(photo: str | None, fx: float | None):
        if not photo:
            raise gr.Error("Drop a photo first (or pick an example).")
        try:
            res = depth_for_photo(predictor, photo, fx if fx else None)
        except DemoInputError as e:
            raise gr.Error(str(e)) from None
        finally:
            if photo and Path(photo).parent != _EXAMPLES:  # an upload is not kept after its response
                Path(photo).unlink(missing_ok=True)
        f = res["files"]
        d = res["depth"]
        fx_used = res["intrinsics"][0]
        info = (
            f"{d.shape[1]}×{d.shape[0]} pixels; depth from {np.percentile(d, 2):.2f} to {np.percentile(d, 98):.2f} m "
            f"(2nd–98th percentile); focal length {fx_used:.0f} px ({res['source']})."
        )
        return res["figure"], str(f["glb"]), [str(f["png16"]), str(f["npy"]), str(f["ply"])], info

    examples = [[str(p)] for p in sorted(_EXAMPLES.glob("*.jpg"))]
    with gr.Blocks(title="depthutils: depth from one photo", delete_cache=(600, 3600)) as app:
        gr.Markdown("# Depth from one photo\n\n" + _about(predictor))
        with gr.Row():
            with gr.Column():
                photo = gr.Image(
                    type="filepath", sources=["upload", "clipboard", "webcam"], label="photo", image_mode=None
                )
                photo.preprocess = _raw_path_on_failure(photo.preprocess)
                fx = gr.Number(value=0, label="focal length fx in pixels (0: from EXIF, else NYU's Kinect)", minimum=0)
                go = gr.Button("Estimate depth", variant="primary")
                if examples:
                    gr.Examples(examples, inputs=[photo], label="example photos")
            with gr.Column():
                figure = gr.Image(label="the photo and its depth [m]", type="numpy", elem_id="depth-figure")
                info = gr.Markdown(elem_id="depth-info")
                cloud = gr.Model3D(label="in 3D: drag to turn it, scroll to zoom", elem_id="point-cloud")
                files = gr.File(label="downloads: 16-bit PNG (mm), .npy (m), .ply", file_count="multiple")
        go.click(run, inputs=[photo, fx], outputs=[figure, cloud, files, info], api_name="depth")
    app.queue(max_size=max_queue, default_concurrency_limit=1)
    return app


def launch(
    *,
    weights: str | None = None,
    checkpoint: str | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    max_queue: int = 8,
    block: bool = True,
):
    """Load the model (the shipped one by default) and serve the page on ``host:port``."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ImportError("the demo needs Gradio, an optional extra: .venv/bin/pip install -e '.[demo]'") from None
    from .predict import load_predictor

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local demo
    predictor = load_predictor(checkpoint, weights)
    app = build_app(predictor, max_queue=max_queue)
    app.launch(server_name=host, server_port=port, prevent_thread_lock=not block)
    return app
