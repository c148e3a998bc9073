"""The web demo, used as a user would: a server on 127.0.0.1 called through gradio_client, and a headless Chromium
that uploads a photo and waits for the depth and the 3D viewer. Skips cleanly without Gradio (an optional extra)
or without Chromium and its driver."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the demo is an optional extra: pip install -e '.[demo]'")

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "tum_desk.jpg"
#: The README's picture of the demo: this test takes it, so that it shows the page as it is (commit it when it changes).
SCREENSHOT = ROOT / "docs" / "demo-screenshot.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    import contextlib
    import io

    from depthutils.demo import launch

    port = _free_port()
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        app = launch(port=port, block=False, max_queue=4)
    # one line of our own; no advertisement of share=True (a public link) for a local demo
    assert f"http://127.0.0.1:{port}/" in said.getvalue() and "share=True" not in said.getvalue()
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.mark.slow
def test_the_page_answers_with_depth_and_survives_bad_input(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    t0 = time.perf_counter()
    figure, cloud, files, info = client.predict(handle_file(str(PHOTO)), 0, api_name="/depth")
    seconds = time.perf_counter() - t0
    assert Path(figure).exists() and Path(cloud).read_bytes()[:4] == b"glTF"
    npy = next(Path(f) for f in files if str(f).endswith(".npy"))
    depth = np.load(npy)
    assert depth.shape == (480, 640)
    p5, p95 = np.percentile(depth, [5, 95])
    assert 0.3 < p5 < p95 < 8 and p95 - p5 > 0.5  # a room, not the flat map of an untrained model
    assert "focal length" in info and seconds < 30
    # not an image, then a bad focal length: a message each, and the server goes on serving
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a photo")
    with pytest.raises(Exception, match="cannot be used as a photo"):
        client.predict(handle_file(str(bad)), 0, api_name="/depth")
    with pytest.raises(Exception, match="-5 is less than minimum value 0|positive number of pixels"):
        client.predict(handle_file(str(PHOTO)), -5, api_name="/depth")
    again = client.predict(handle_file(str(PHOTO)), 500, api_name="/depth")
    assert "500 px (given)" in again[3]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["L", "I;16", "RGBA", "CMYK"])
def test_odd_photos_become_rgb(tmp_path, mode):
    from PIL import Image

    from depthutils.demo import depth_for_photo
    from depthutils.predict import load_predictor

    path = tmp_path / ("p.tif" if mode in ("CMYK", "I;16") else "p.png")
    Image.open(PHOTO).convert("RGB").convert(mode if mode != "I;16" else "I").resize((96, 72)).save(path)
    res = depth_for_photo(load_predictor(), path, out_dir=tmp_path / "o")
    assert res["depth"].shape == (72, 96) and res["figure"].shape[-1] == 3


@pytest.mark.slow
def test_a_downscaled_photo_keeps_its_focal_length(tmp_path):
    """A photo over WORK_SIDE is downscaled before prediction: EXIF's focal length is read for the working size
    (35 mm equivalent × long side / 36 mm) and a focal length the user gives, in their photo's pixels, is scaled."""
    from PIL import Image

    from depthutils.demo import WORK_SIDE, depth_for_photo
    from depthutils.predict import load_predictor

    path = tmp_path / "big.jpg"
    im = Image.open(PHOTO).convert("RGB").resize((2 * WORK_SIDE, 2 * WORK_SIDE * 3 // 4))
    exif = im.getexif()
    exif.get_ifd(0x8769)[41989] = 28  # FocalLengthIn35mmFilm
    im.save(path, exif=exif)
    predictor = load_predictor()
    res = depth_for_photo(predictor, path, out_dir=tmp_path / "a")
    assert res["depth"].shape == (WORK_SIDE * 3 // 4, WORK_SIDE) and res["source"] == "exif"
    assert res["intrinsics"][0] == pytest.approx(28 * WORK_SIDE / 36)
    res = depth_for_photo(predictor, path, fx=2000.0, out_dir=tmp_path / "b")
    assert res["source"] == "given" and res["intrinsics"][0] == pytest.approx(1000.0)


def test_huge_photo_is_refused_with_its_size(tmp_path):
    from PIL import Image

    from depthutils.demo import MAX_PHOTO_PIXELS, DemoInputError, depth_for_photo
    from depthutils.predict import load_predictor

    side = int(MAX_PHOTO_PIXELS**0.5) + 100
    path = tmp_path / "huge.png"
    Image.new("L", (side, side)).save(path)
    with pytest.raises(DemoInputError, match=f"{side}x{side} pixels, over the limit"):
        depth_for_photo(load_predictor(), path, out_dir=tmp_path / "o")


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _drawn(png: bytes) -> bool:
    """Whether a screenshot of the 3D viewer shows something: over 5% of its pixels differ from its background."""
    import io

    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return float((np.abs(a - a[0, 0]).sum(-1) > 30).mean()) > 0.05


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="headless Chromium and chromedriver are not installed")
def test_a_browser_uploads_a_photo_and_sees_depth_and_the_3d_viewer(server):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser, driver_path = _chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    # WebGL on the CPU (SwiftShader through ANGLE), so that the 3D viewer draws in a machine without a GPU
    for arg in ("--headless=new", "--no-sandbox", "--window-size=1400,1100", "--use-angle=swiftshader"):
        opts.add_argument(arg)
    opts.add_argument("--enable-unsafe-swiftshader")
    drv = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        drv.get(server)
        wait = WebDriverWait(drv, 25)
        upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
        upload.send_keys(str(PHOTO))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "img")))
        drv.find_element(By.XPATH, "//button[contains(., 'Estimate depth')]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#depth-figure img")))
        canvas = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#point-cloud canvas")))
        assert "focal length" in drv.find_element(By.ID, "depth-info").text
        wait.until(lambda _: _drawn(canvas.screenshot_as_png))  # the surface is drawn, not an empty canvas
        drv.save_screenshot(str(SCREENSHOT))
    finally:
        drv.quit()


# --- [reliability]: the demo keeps each user's files ------------------------------------------------------------
@pytest.fixture(scope="module")
def predictor():
    from depthutils.predict import load_predictor

    return load_predictor()


def test_a_request_never_deletes_the_file_it_names(predictor, tmp_path):
    """An API call that names another request's output (or an upload, or the example) leaves it in place."""
    from depthutils.demo import RequestFolders, answer

    folders = RequestFolders(keep=4)
    other = tmp_path / "depth_mm.png"  # another user's result, as an API caller could name it
    shutil.copy(PHOTO, other)
    figure, glb, files, info = answer(predictor, folders, str(other), None)
    assert other.read_bytes() == PHOTO.read_bytes() and figure.ndim == 3 and "focal length" in info
    not_a_photo = tmp_path / "depth_points.ply"
    not_a_photo.write_text("ply")
    from depthutils.demo import DemoInputError

    with pytest.raises(DemoInputError, match="cannot be used as a photo"):
        answer(predictor, folders, str(not_a_photo), None)
    assert not_a_photo.read_text() == "ply"
    answer(predictor, folders, str(PHOTO), None)  # the example photo, twice: it is still there
    assert PHOTO.exists() and answer(predictor, folders, str(PHOTO), None)[3]
    folders.close()


def test_simultaneous_requests_for_one_upload_all_succeed(predictor, tmp_path):
    """Queued requests share Gradio's copy of an upload: none may take it from the others."""
    import threading

    from depthutils.demo import RequestFolders, answer

    folders, shared = RequestFolders(keep=8), tmp_path / "upload.jpg"
    shutil.copy(PHOTO, shared)
    errors: list[BaseException] = []

    def one():
        try:
            answer(predictor, folders, str(shared), None)
        except BaseException as e:  # noqa: BLE001 — collected, then asserted on
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and shared.exists()
    folders.close()


def test_request_folders_are_bounded_and_removed(tmp_path):
    from depthutils.demo import RequestFolders

    folders = RequestFolders(keep=3)
    made = []
    for _ in range(5):  # each request writes its outputs; the sixth-newest and older go
        made.append(folders.new())
        (made[-1] / "out.npy").write_bytes(b"x" * 10)
    assert [f.exists() for f in made] == [False, False, True, True, True]
    assert sorted(p.name for p in folders.root.iterdir()) == sorted(f.name for f in made[2:])
    folders.close()
    assert not folders.root.exists()


def test_a_busy_port_is_named_with_what_to_do():
    from depthutils.demo import launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(ValueError, match=rf"127.0.0.1:{port}.*--port {port + 1}"):
            launch(port=port, block=False)


def test_the_page_states_the_cards_training_frame_count(predictor):
    from depthutils.demo import _about
    from depthutils.models import get_weights

    n = get_weights().meta["training"]["n_train"]
    text = _about(predictor)
    assert f"**{n} indoor NYU-Depth V2 frames**" in text and "few hundred" not in text
