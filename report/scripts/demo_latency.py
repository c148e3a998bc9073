"""The web demo's time from upload to result, as a user meets it: one 640×480 photo sent to the page's API.

    python report/scripts/demo_latency.py            # writes report/demo-latency.md

Starts the demo on 127.0.0.1 with the shipped model, as ``python -m depthutils demo`` does, and calls it through
``gradio_client`` (the photo is uploaded, predicted with flip TTA, drawn, written as PNG / .npy / .ply / .glb and
sent back). After two warm-up calls, the median and range of ``--calls`` calls; beside it, in the same run, the
model's share (``depth_for_photo`` without the server). The browser's own drawing is not included.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

import torch

from depthutils._env import device_name, git_commit, versions
from depthutils._io import write_text_atomic

ROOT = Path(__file__).resolve().parents[2]  # report/scripts/ → the repository
PHOTO = ROOT / "examples" / "tum_desk.jpg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _times(call, n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "report" / "demo-latency.md"))
    a = ap.parse_args()

    from gradio_client import Client, handle_file
    from PIL import Image

    from depthutils.demo import depth_for_photo, launch
    from depthutils.predict import load_predictor

    size = Image.open(PHOTO).size
    assert size == (640, 480), f"{PHOTO} is {size}, not 640×480"
    port = _free_port()
    app = launch(port=port, block=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        page = _times(lambda: client.predict(handle_file(str(PHOTO)), 0, api_name="/depth"), a.calls)
        predictor = load_predictor()  # the page's own model, loaded again: the model's share without the server
        with tempfile.TemporaryDirectory() as tmp:
            model = _times(lambda: depth_for_photo(predictor, PHOTO, out_dir=tmp), a.calls)
    finally:
        app.close()

    def row(name: str, t: list[float]) -> str:
        return f"| {name} | {statistics.median(t):.2f} | {min(t):.2f} – {max(t):.2f} |"

    text = "\n".join(
        [
            "# Web demo: time from upload to result",
            "",
            f"`python report/scripts/demo_latency.py`: one 640×480 photo (`examples/{PHOTO.name}`), the shipped model "
            f"({predictor.label}), flip TTA; {a.calls} calls after two warm-up calls. Device: "
            f"{device_name(torch.device('cpu'))}, {torch.get_num_threads()} threads; torch {versions()['torch']}; "
            f"commit {git_commit()}.",
            "",
            "| what | median [s] | range [s] |",
            "|---|---|---|",
            row("upload → result through the page's API (gradio_client)", page),
            row("of which the model and the files (depth_for_photo, no server)", model),
            "",
            "The browser's drawing of the figure and the 3D surface comes on top (not measured here).",
            "",
        ]
    )
    write_text_atomic(a.out, text)
    print(text)


if __name__ == "__main__":
    main()
