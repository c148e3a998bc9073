"""``python -m depthutils demo``: a local web page (Gradio) where a photo becomes depth and a 3D point cloud.

One function does the work, :func:`depth_for_photo`: photo file → the photo beside its depth with a colour bar
in metres, the depth as a 3D surface (``.glb``) for Gradio's Model3D viewer, and the 16-bit PNG, ``.npy`` and the
``.ply`` point cloud to download. The page around it (:func:`build_app`) adds the inputs (upload, paste, webcam,
the example photos), a focal-length field and a note on what the model is.
Gradio is an optional extra: ``pip install -e .[demo]``.

Safety: the server binds to 127.0.0.1 unless ``--host`` says otherwise; requests wait in a queue of at most
``max_queue`` (beyond it a request is refused with a message, and the server stays up). Files: the demo never
deletes a file it did not create. Each request copies the photo it names into a folder of its own
(:class:`RequestFolders`), reads the copy and writes its outputs there; only the newest ``max_queue + 4`` request
folders are kept (each at most about 25 MB: a photo of up to 1280 pixels on its longer side, its point cloud,
surface and depth files), and the server's root folder is removed when it stops. Uploads and the copies Gradio
serves live in Gradio's cache, which Gradio cleans every 10 minutes of files over an hour old. A bad input (not an
image, huge, or unreadable) is a message in the page, never a crash. docs/RELIABILITY.md lists these guarantees.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any, cast

import numpy as np

from .predict import Predictor

__all__ = ["depth_for_photo", "answer", "RequestFolders", "build_app", "launch", "MAX_PHOTO_PIXELS", "WORK_SIDE"]

#: Larger photos are refused with their size (PIL's decompression-bomb guard stops far larger ones first).
MAX_PHOTO_PIXELS = 50_000_000
#: Photos are downscaled so that their longer side is at most this before prediction: the model sees 256 columns
#: anyway, and the outputs (PNG, .npy, point cloud) stay a size a browser can show.
WORK_SIDE = 1280
_EXAMPLES = Path(__file__).resolve().parent / "examples"  # package data: an installed package has them too


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


class RequestFolders:
    """One folder per request under a root of the server's own; creating one removes the oldest beyond ``keep``
    (their responses have long been served: Gradio copies returned files into its cache before the next request
    of a queue that runs one at a time)."""

    def __init__(self, keep: int):
        self.root = Path(tempfile.mkdtemp(prefix="depthutils-demo-"))
        self.keep = keep
        self._made: deque[Path] = deque()
        self._lock = threading.Lock()
        atexit.register(self.close)

    def new(self) -> Path:
        with self._lock:
            folder = Path(tempfile.mkdtemp(prefix="request-", dir=self.root))
            self._made.append(folder)
            while len(self._made) > self.keep:
                shutil.rmtree(self._made.popleft(), ignore_errors=True)
            return folder

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def answer(
    predictor: Predictor, folders: RequestFolders, photo: str | None, fx: float | None
) -> tuple[np.ndarray, str, list[str], str]:
    """One request of the page: (figure, .glb path, download paths, info text). The photo file that the request
    names is copied into the request's own folder and only the copy is read and then deleted: the named file
    (an upload in Gradio's cache, an example, another request's output) is never touched."""
    if not photo:
        raise DemoInputError("Drop a photo first (or pick an example).")
    src = Path(photo)
    if not src.is_file():
        raise DemoInputError("The photo is no longer on the server: upload it again.")
    work = folders.new()
    copy = work / f"photo{src.suffix.lower()}"
    shutil.copyfile(src, copy)
    try:
        res = depth_for_photo(predictor, copy, fx if fx else None, out_dir=work)
    finally:
        copy.unlink(missing_ok=True)  # the request's own copy: made for it, removed with it
    f, d = res["files"], res["depth"]
    info = (
        f"{d.shape[1]}×{d.shape[0]} pixels; depth from {np.percentile(d, 2):.2f} to {np.percentile(d, 98):.2f} m "
        f"(2nd–98th percentile); focal length {res['intrinsics'][0]:.0f} px ({res['source']})."
    )
    return res["figure"], str(f["glb"]), [str(f["png16"]), str(f["npy"]), str(f["ply"])], info


def _about(predictor: Predictor) -> str:
    """The note on what the model is, with the model card's headline numbers when it is shipped weights."""
    lines = [f"**Model:** {predictor.label}, input {predictor.image_size[0]}×{predictor.image_size[1]}."]
    if "weights" in predictor.source:
        from .models import get_weights

        meta = get_weights(predictor.source["weights"]).meta
        t, m = meta["training"], meta["metrics"]["standard"]
        init = "from ImageNet weights" if "imagenet" in t["encoder_init"] else "without ImageNet weights"
        lines.append(
            f"Trained {init} on **{t['n_train']} indoor NYU-Depth V2 frames** from one Kinect camera (the model "
            "card's count): rooms are what it knows. Outdoors it is out of its depth, and on other cameras its "
            "metres are rough."
        )
        lines.append(
            f"NYU test set ({m['n_images']} images, standard protocol): δ1 {m['delta1']:.3f}, AbsRel "
            f"{m['abs_rel']:.3f}, RMSE {m['rmse']:.3f} m (the model card: `depthutils/weights/"
            f"{predictor.source['weights']}/README.md`)."
        )
    if predictor.synthetic:
        lines.append("**This model was trained on synthetic rooms: it is not meant for real photos.**")
    lines.append(
        "The focal length (pixels) places the points in 3D: 0 takes it from the photo's EXIF data, else NYU's "
        "Kinect. Each request works on its own copy of the photo; the demo deletes no file it did not make."
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

    folders = RequestFolders(keep=max_queue + 4)

    def run(photo: str | None, fx: float | None):
        try:
            return answer(predictor, folders, photo, fx)
        except DemoInputError as e:
            raise gr.Error(str(e), print_exception=False) from None

    examples = [[str(p)] for p in sorted(_EXAMPLES.glob("*.jpg"))]
    with gr.Blocks(title="depthutils: depth from one photo", delete_cache=(600, 3600)) as app:
        gr.Markdown("# Depth from one photo\n\n" + _about(predictor))
        with gr.Row():
            with gr.Column():
                photo = gr.Image(
                    type="filepath", sources=["upload", "clipboard", "webcam"], label="photo", image_mode=None
                )
                # this one instance's preprocess is wrapped on purpose (assigning to a method: through Any)
                cast(Any, photo).preprocess = _raw_path_on_failure(photo.preprocess)
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


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        try:
            sock.bind((host, port))
        except OSError as e:  # a ValueError: the CLI prints it as the one line it is, with no traceback
            raise ValueError(
                f"cannot serve on {host}:{port}: {e.strerror} (another demo, or another program, holds the port): "
                f"choose another with --port, e.g. python -m depthutils demo --port {port + 1}"
            ) from None


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
    _check_port(host, port)  # before the model loads: a busy port is the user's to change
    predictor = load_predictor(checkpoint, weights)
    app = build_app(predictor, max_queue=max_queue)
    # quiet: Gradio's own banner advertises share=True, which this local demo never uses; ours says where it is
    print(f"depthutils demo: http://{host}:{port}/ ({predictor.label}); Ctrl-C stops it", file=sys.stderr)
    app.launch(server_name=host, server_port=port, prevent_thread_lock=not block, share=False, quiet=True)
    return app
