"""Nothing lost, nothing mislabelled: the hostile cases of the reliability review, each reproduced."""

from __future__ import annotations

import errno
import json
import math
import os

import numpy as np
import pytest
import torch

from conftest import TINY
from depthutils._io import write_json_atomic
from depthutils.cli import main
from depthutils.run_folder import CheckpointError, RunFolder, load_checkpoint

TRAIN = ["train", "--model", "resnete_decoder_v1"]


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--limit", "-3"),
        ("--epochs", "-2"),
        ("--epochs", "0"),
        ("--batch-size", "0"),
        ("--image-size", "0"),
        ("--test-limit", "0"),
        ("--max-depth", "0"),
        ("--eval-every", "0"),
        ("--val-fraction", "0.7"),
    ],
)
def test_bad_numbers_are_refused_before_anything_is_loaded(tmp_path, capsys, monkeypatch, flag, value):
    import depthutils.train as train_mod

    monkeypatch.setattr(train_mod, "load_data", lambda *a, **k: pytest.fail("data loaded before the check"))
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), *TINY, flag, value]) == 2
    err = capsys.readouterr().err
    assert value in err or flag.lstrip("-").replace("-", "_") in err, err
    assert not out.exists()


def test_synth_count_zero_is_refused(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["synth", "--out", str(tmp_path / "s.mat"), "--count", "0"])
    assert e.value.code == 2 and not (tmp_path / "s.mat").exists()


@pytest.mark.slow
def test_best_is_written_before_last(tmp_path, monkeypatch):
    order = []
    real = RunFolder.save_checkpoint
    monkeypatch.setattr(
        RunFolder,
        "save_checkpoint",
        lambda self, path, payload: order.append((payload["epoch"], path.name)) or real(self, path, payload),
    )
    assert main([*TRAIN, "--out", str(tmp_path / "r"), "--epochs", "3", "--eval-every", "1", *TINY]) == 0
    for epoch in {e for e, name in order if name == "best.pt"}:
        assert order.index((epoch, "best.pt")) < order.index((epoch, "last.pt"))
    assert order[0] == (1, "best.pt")  # the first evaluated epoch is always a new best


@pytest.mark.slow
def test_bytes_overwritten_inside_last_pt_are_caught(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", *TINY]) == 0
    raw = bytearray((out / "last.pt").read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 4096] = os.urandom(4096)
    (out / "last.pt").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError):
        load_checkpoint(out / "last.pt")
    before = (out / "history.csv").read_text(), (out / "results.json").read_text()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 2
    assert "--resume-from" in capsys.readouterr().err
    assert ((out / "history.csv").read_text(), (out / "results.json").read_text()) == before  # nothing overwritten


@pytest.mark.slow
def test_full_disk_is_named(tmp_path, capsys, monkeypatch):
    import depthutils.run_folder as rf

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "r" / "last.pt"))

    monkeypatch.setattr(rf.torch, "save", full)
    assert main([*TRAIN, "--out", str(tmp_path / "r"), "--epochs", "1", *TINY]) == 2
    err = capsys.readouterr().err
    assert "the disk is full" in err and "last.pt" in err and "Traceback" not in err


def test_json_is_standard_and_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "x.json", {"a": math.nan, "b": [1.0, math.inf], "c": torch.tensor(2.0).item()})
    finally:
        os.umask(old)
    text = (tmp_path / "x.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 2.0}
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644


def _tiny_run(tmp_path):
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", *TINY]) == 0
    return out


@pytest.mark.parametrize(
    "case",
    [
        "synth_over_splits",
        "synth_over_mat",
        pytest.param("baselines_over_results", marks=pytest.mark.slow),  # trains a run first
        pytest.param("evaluate_twice", marks=pytest.mark.slow),
        "bench_over_report",
    ],
)
def test_no_command_replaces_a_file_it_did_not_write(tmp_path, capsys, case):
    """Every command that writes a file refuses to replace an existing one unless --overwrite is given."""
    if case.startswith("synth"):
        (tmp_path / "splits.mat").write_bytes(b"the official split")
        target = tmp_path / "splits.mat" if case == "synth_over_splits" else tmp_path / "x.mat"
        target.write_bytes(b"precious")
        argv = ["synth", "--out", str(tmp_path / "x.mat"), "--count", "4", "--size", "32x48"]
    elif case == "baselines_over_results":
        run = _tiny_run(tmp_path)
        target = run / "results.json"
        argv = ["baselines", "--data", "synthetic", "--out", str(target)]
    elif case == "evaluate_twice":
        run = _tiny_run(tmp_path)
        target = run / "evaluation.json"
        assert main(["evaluate", "--checkpoint", str(run / "last.pt")]) == 0
        argv = ["evaluate", "--checkpoint", str(run / "last.pt")]
    else:
        target = tmp_path / "bench.json"
        target.write_text("{}")
        argv = ["bench", "--quick", "--models", "regnet_unet", "--out", str(target)]
    before = target.read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and target.name in err
    assert target.read_bytes() == before


def test_out_of_the_wrong_kind_is_named(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["synth", "--out", str(tmp_path / "afile" / "x.mat"), "--count", "4"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    (tmp_path / "adir").mkdir()
    assert main(["synth", "--out", str(tmp_path / "adir"), "--count", "4"]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_before_the_first_checkpoint_keeps_the_runs_own_schedule(tmp_path):
    """Killed during the first epoch (config.json, no last.pt): --resume goes on with the run's --epochs 3, not
    the report's schedule for the model."""
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), "--epochs", "3", *TINY]) == 0
    for name in ("last.pt", "best.pt", "history.csv", "results.json"):
        (out / name).unlink()
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0
    assert json.loads((out / "results.json").read_text())["epochs"] == 3
    assert json.loads((out / "config.json").read_text())["config"]["epochs"] == 3


@pytest.mark.slow
def test_the_checksum_covers_the_stored_settings(tmp_path):
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", *TINY]) == 0
    ck = torch.load(out / "last.pt", weights_only=True)
    ck["config"]["epochs"] = 40  # a flipped byte in the settings, the stored checksum kept
    torch.save(ck, out / "last.pt")
    with pytest.raises(CheckpointError, match="do not match the checksum"):
        load_checkpoint(out / "last.pt")


@pytest.mark.slow
def test_a_kill_between_the_first_best_and_last_resumes_with_plain_resume(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "killed"
    for o in (ref, out):
        assert main([*TRAIN, "--out", str(o), "--epochs", "1", *TINY]) == 0
    for name in ("last.pt", "history.csv", "results.json"):  # best.pt of epoch 1 written, then the kill
        (out / name).unlink()
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0
    a, b = (json.loads((o / "results.json").read_text()) for o in (ref, out))
    assert a["per_image"] == b["per_image"]  # the same run as one that was never killed


@pytest.mark.parametrize(
    "train, test, message",
    [
        ([1, 2, 3], [3, 4], r"in both trainNdxs and testNdxs \(1-based: \[3\]\)"),
        ([1, 2, 2], [4], r"trainNdxs lists indices \[2\] more than once"),
        ([1, 2.5], [4], r"non-integer indices \[2.5\]"),
        ([0, 1], [4], r"trainNdxs holds indices \[0\] outside 1 to 6"),
        ([1, 2], [4, 7], r"testNdxs holds indices \[7\] outside 1 to 6"),
    ],
)
def test_bad_split_files_are_refused_by_name(tmp_path, train, test, message):
    from scipy.io import savemat

    from conftest import pattern_depth, pattern_rgb, write_folder
    from depthutils.data import DataError, load_dataset

    root = write_folder(tmp_path / "d", pattern_rgb(6, 8, 8), pattern_depth(6, 8, 8) * 1000)
    savemat(root / "splits.mat", {"trainNdxs": np.array(train, float)[:, None], "testNdxs": np.array(test)[:, None]})
    with pytest.raises(DataError, match=message) as e:
        load_dataset(str(root), split="official", val_fraction=0.0)
    assert "splits.mat" in str(e.value)


@pytest.mark.slow
def test_evaluating_on_trained_images_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", *TINY, "--split", "report"]) == 0
    # the synthetic set's official split differs from the report split the model was trained on
    assert main(["evaluate", "--checkpoint", str(out / "last.pt"), "--split", "official"]) == 2
    err = capsys.readouterr().err
    assert "were in the model's training or validation images" in err and "--split report" in err
    assert not (out / "evaluation.json").exists()


def _folder_with_depth(tmp_path, depth_png: np.ndarray, mode: str | None = None):
    from PIL import Image

    from conftest import pattern_rgb

    root = tmp_path / "d"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for i in range(4):
        Image.fromarray(pattern_rgb(1, 8, 8)[0]).save(root / "rgb" / f"{i + 1:04d}.png")
        Image.fromarray(depth_png, mode).save(root / "depth" / f"{i + 1:04d}.png")
    return root


@pytest.mark.parametrize(
    "depth, message",
    [
        (np.full((8, 8), 3, np.uint16), r"looks like depth stored in metres, not millimetres"),
        (np.full((8, 8, 3), 100, np.uint8), r"expected a single-channel uint16 PNG"),
        (np.full((8, 8), 3000, np.uint16), None),  # millimetres: accepted
    ],
)
def test_depth_folders_are_checked_for_units_and_type(tmp_path, depth, message):
    from depthutils.data import DataError, read_rgbd_folder

    root = _folder_with_depth(tmp_path, depth)
    if message is None:
        assert read_rgbd_folder(root)[1].max() == pytest.approx(3.0)
        return
    with pytest.raises(DataError, match=message) as e:
        read_rgbd_folder(root)
    assert "0001.png" in str(e.value)


def test_two_files_for_one_index_are_an_error(tmp_path):
    from PIL import Image

    from depthutils.data import DataError, read_rgbd_folder

    root = _folder_with_depth(tmp_path, np.full((8, 8), 3000, np.uint16))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "rgb" / "0002.jpg")
    with pytest.raises(DataError, match=r"two images for one index: \['0002.jpg', '0002.png'\]"):
        read_rgbd_folder(root)


@pytest.mark.slow
def test_depth_all_beyond_max_depth_is_refused_not_scored_as_null(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", *TINY]) == 0
    root = _folder_with_depth(tmp_path, np.full((8, 8), 30000, np.uint16))  # 30 m, beyond max_depth 10 m
    rc = main(["evaluate", "--checkpoint", str(out / "last.pt"), "--data", str(root), "--split", "report"])
    assert rc == 2 and "none of the" in capsys.readouterr().err
    assert not (out / "evaluation.json").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        ([*TRAIN, "--lr", "inf"], "lr must be a finite number"),
        ([*TRAIN, "--lr", "nan"], "lr must be a finite number"),
        ([*TRAIN, "--max-depth", "inf"], "max_depth must be a finite number"),
        ([*TRAIN, "--loss", "l1+-1*gradient"], "must be a positive finite number"),
        ([*TRAIN, "--loss", "l1+inf*gradient"], "must be a positive finite number"),
        ([*TRAIN, "--cutdepth", "1.5"], "cutdepth"),
        (["predict", "--fx", "-5", "x.jpg", "--out", "o"], "must be a finite number > 0"),
        (["predict", "--fx", "inf", "x.jpg", "--out", "o"], "must be a finite number > 0"),
        (["export", "--run", "r", "--name", "n", "--extra-time-s", "nan"], "must be a finite number"),
    ],
)
def test_bad_numbers_in_any_subcommand_are_refused_by_name(tmp_path, capsys, argv, message):
    argv = [*argv, "--out", str(tmp_path / "r")] if argv[0] == "train" else argv
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own refusal: usage and the message, exit status 2
        rc = e.code
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_expected_faults_get_a_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    import torch.hub

    if not torch.cuda.is_available():
        assert main([*TRAIN, "--out", str(tmp_path / "c"), *TINY, "--device", "cuda"]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    args = [*TINY[:-3], "--quiet"]  # TINY without its --pretrained false
    assert main([*TRAIN, "--out", str(tmp_path / "p"), *args, "--pretrained", "true"]) == 2
    assert "put it at" in capsys.readouterr().err
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert main([*TRAIN, "--out", str(tmp_path / "l"), *TINY, "--data", str(tmp_path / "loop")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "loop" in err
    run = tmp_path / "g"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    assert main(["train", "--out", str(run), "--resume"]) == 2
    assert "config.json is not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    "state", ["{broken", '{"profile": "smoke"}', '{"profile": "huge", "data": "x", "done": [], "seconds": {}}']
)
def test_pipeline_state_is_checked(tmp_path, capsys, state):
    (tmp_path / "pipeline.json").write_text(state)
    assert main(["pipeline", "--status", "--out", str(tmp_path)]) == 2
    assert "pipeline.json" in capsys.readouterr().err


def test_download_never_keeps_a_wrong_file(tmp_path):
    """A file already at the destination is verified before it counts as done; a response that is not the file is
    deleted, not kept as a .part to be resumed by appending; 'run again to resume' only where that can help."""
    import functools
    import http.server
    import threading

    from depthutils.data.download import DownloadError, check_mat_file, download_file

    serve = tmp_path / "srv"
    serve.mkdir()
    (serve / "page.mat").write_bytes(b"<!DOCTYPE html><html>Please log in</html>" * 40)

    class Html(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Html, directory=str(serve)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        dest = tmp_path / "out" / "page.mat"
        with pytest.raises(DownloadError) as e:  # .mat served as HTML by its content: deleted, nothing to resume
            download_file(f"{base}/page.mat", dest, progress=False, validate=check_mat_file)
        assert "Deleted" in str(e.value) and "run again to resume" not in str(e.value)
        assert not dest.exists() and not dest.with_name("page.mat.part").exists()
        (serve / "index.html").write_text("<html>an error page</html>")
        with pytest.raises(DownloadError, match="HTML page .* nothing was written"):
            download_file(f"{base}/index.html", tmp_path / "out" / "x.mat", progress=False)
        assert not list((tmp_path / "out").iterdir())
    finally:
        srv.shutdown()
    wrong = tmp_path / "here.mat"
    wrong.write_bytes(b"not a mat file" * 10)
    with pytest.raises(DownloadError, match="is already there but is not the expected file"):
        download_file("http://127.0.0.1:9/unused", wrong, progress=False, validate=check_mat_file)
    with pytest.raises(DownloadError, match="size is 140 bytes, not 99"):
        download_file("http://127.0.0.1:9/unused", wrong, progress=False, size=99)


@pytest.mark.slow
def test_a_huge_image_size_is_refused_before_the_first_step(tmp_path, capsys):
    out = tmp_path / "big"
    argv = [*TRAIN, "--out", str(out), *TINY, "--image-size", "8192x8192", "--batch-size", "64", "--epochs", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--image-size 8192x8192 with --batch-size 64 needs about" in err and "GiB are free" in err
    assert not (out / "last.pt").exists()


# --- [reliability]: the shipped settings are checksummed; weights names never escape the weights folder ----------
@pytest.fixture
def weights_copy(tmp_path, monkeypatch):
    """A private weights root holding a copy of the shipped default weights (the shipped folder is never edited)."""
    import shutil

    import depthutils.models.weights as weights_mod

    root = tmp_path / "weights"
    shutil.copytree(weights_mod.WEIGHTS_ROOT / weights_mod.DEFAULT_WEIGHTS, root / weights_mod.DEFAULT_WEIGHTS)
    monkeypatch.setattr(weights_mod, "WEIGHTS_ROOT", root)
    return root / weights_mod.DEFAULT_WEIGHTS


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["preprocessing"].__setitem__("max_depth_m", 20.0),  # doubled every depth, exit 0
        lambda m: m["preprocessing"].__setitem__("image_size_hw", [96, 128]),
        lambda m: m["recipe"].__setitem__("head", "sigmoid"),
        lambda m: m["metrics"]["standard"].__setitem__("delta1", 0.99),  # what `models` shows
        lambda m: m.pop("meta_sha256"),
    ],
    ids=["max_depth_m", "image_size_hw", "head", "metrics", "no checksum"],
)
def test_an_edited_meta_json_is_refused_with_the_restore_command(weights_copy, capsys, edit):
    from depthutils.models import WeightsError, get_weights

    meta = json.loads((weights_copy / "meta.json").read_text())
    edit(meta)
    (weights_copy / "meta.json").write_text(json.dumps(meta, indent=2))
    with pytest.raises(WeightsError, match=r"meta_sha256.*git checkout -- .*meta\.json"):
        get_weights()
    assert main(["predict", "examples/tum_desk.jpg", "--out", str(weights_copy.parent / "out")]) == 2
    assert "git checkout" in capsys.readouterr().err and not (weights_copy.parent / "out").exists()


@pytest.mark.parametrize("name", ["../../../x", "/abs/path", "..", "a/b", ".hidden"])
def test_weights_names_are_plain_names(weights_copy, name):
    from depthutils.models import WeightsError, build_model, get_weights

    with pytest.raises(WeightsError, match="not a weights name.*load_weights_folder"):
        get_weights(name)
    with pytest.raises(WeightsError, match="not a weights name"):
        build_model("regnet_unet", weights=name)


def test_a_symlinked_weights_folder_is_refused_and_own_folders_load_explicitly(weights_copy, tmp_path):
    import shutil

    from depthutils.models import WeightsError, build_model, get_weights
    from depthutils.models.weights import load_weights_folder

    elsewhere = tmp_path / "elsewhere" / "mine"
    shutil.copytree(weights_copy, elsewhere)
    (weights_copy.parent / "linked").symlink_to(elsewhere)
    with pytest.raises(WeightsError, match="symbolic link"):
        get_weights("linked")
    own = load_weights_folder(elsewhere)  # the explicit way: a folder of one's own, checked the same way
    m = build_model(own.model, weights=own)
    assert not own.shipped and m.meta["pretrained_used"] == f"weights folder {elsewhere}"
    assert get_weights().shipped and build_model(own.model, weights=get_weights().name).meta[
        "pretrained_used"
    ].startswith("shipped weights")


def test_export_refuses_a_name_that_is_a_path(tmp_path, capsys):
    for name in ("../escape", str(tmp_path / "abs")):
        assert main(["export", "--run", str(tmp_path), "--name", name]) == 2
        assert "not a weights name" in capsys.readouterr().err
    assert not (tmp_path / "abs").exists()


# --- [reliability]: leakage is caught by content, not by counts -------------------------------------------------
def _copy_as_folder(root, rgb, depth_m, size_hw=None):
    """Images as an RGB-D folder (JPEG, optionally resized): a copy in another place, name and size."""
    from PIL import Image

    from conftest import write_folder

    if size_hw is not None:
        rgb = np.stack([np.asarray(Image.fromarray(x).resize(size_hw[::-1], Image.Resampling.BILINEAR)) for x in rgb])
        depth_m = np.stack(
            [np.asarray(Image.fromarray(d).resize(size_hw[::-1], Image.Resampling.NEAREST)) for d in depth_m]
        )
    return write_folder(root, rgb, (depth_m * 1000).astype(np.uint16), ext=".jpg")


def test_evaluation_refuses_training_images_found_by_content(tmp_path, capsys):
    from depthutils.config import TrainConfig
    from depthutils.data import load_data

    run = tmp_path / "run"
    assert main([*TRAIN, "--out", str(run), "--epochs", "1", *TINY]) == 0
    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text())["config"])
    data = load_data(cfg)
    seen = _copy_as_folder(tmp_path / "seen", data.rgb[data.train[:6]], data.depth[data.train[:6]], (96, 128))
    argv = ["evaluate", "--checkpoint", str(run / "last.pt"), "--split", "report", "--out"]
    assert main([*argv, str(tmp_path / "a.json"), "--data", str(seen)]) == 2
    assert "found by their content" in capsys.readouterr().err and not (tmp_path / "a.json").exists()
    mirrored = _copy_as_folder(tmp_path / "mirrored", data.rgb[data.train[:6], :, ::-1], data.depth[data.train[:6]])
    assert main([*argv, str(tmp_path / "m.json"), "--data", str(mirrored)]) == 2  # training flips: seen too
    assert "found by their content" in capsys.readouterr().err
    frames = tmp_path / "frames"  # other cameras' layout: NAME/rgb.png + NAME/depth.png
    for k in range(2):
        (frames / f"f{k}").mkdir(parents=True)
        from PIL import Image

        Image.fromarray(data.rgb[data.train[k]]).save(frames / f"f{k}" / "rgb.png")
        Image.fromarray((data.depth[data.train[k]] * 1000).astype(np.uint16)).save(frames / f"f{k}" / "depth.png")
    assert (
        main(
            ["evaluate", "--checkpoint", str(run / "last.pt"), "--data", str(frames), "--out", str(tmp_path / "f.json")]
        )
        == 2
    )
    assert "f0, f1" in capsys.readouterr().err
    unseen = _copy_as_folder(tmp_path / "unseen", data.rgb[data.test], data.depth[data.test], (96, 128))
    assert main([*argv, str(tmp_path / "b.json"), "--data", str(unseen)]) == 0  # held-out images score as before


@pytest.mark.slow
def test_the_shipped_model_refuses_its_own_training_images(tmp_path, capsys):
    """evaluate --weights on 12 of the shipped model's training images reported δ1 0.889 with exit 0."""
    from conftest import shared_or_skip
    from depthutils.data.folder import read_rgb
    from depthutils.models import get_weights

    src = shared_or_skip("nyu_v2_labeled")
    folder = tmp_path / "mine"
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    import shutil

    for k, i in enumerate(get_weights().meta["training"]["train_indices"][:12]):  # at full size, renamed
        shutil.copy(src / "rgb" / f"{i + 1:04d}.jpg", folder / "rgb" / f"{k + 1:04d}.jpg")
        shutil.copy(src / "depth" / f"{i + 1:04d}.png", folder / "depth" / f"{k + 1:04d}.png")
    assert read_rgb(folder / "rgb" / "0001.jpg").shape == (480, 640, 3)
    argv = ["evaluate", "--weights", "nyu-regnet-unet", "--data", str(folder), "--split", "report"]
    assert main([*argv, "--out", str(tmp_path / "e.json")]) == 2
    assert "trained or validated on, found by their content" in capsys.readouterr().err


# --- [reliability]: hints that say what is true ------------------------------------------------------------------
@pytest.mark.slow
def test_resume_hints_point_only_at_a_checkpoint_that_loads(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", *TINY]) == 0
    for name in ("last.pt", "best.pt"):  # both damaged: best.pt is no way out
        raw = bytearray((out / name).read_bytes())
        raw[len(raw) // 2 : len(raw) // 2 + 4096] = os.urandom(4096)
        (out / name).write_bytes(bytes(raw))
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "--resume-from" not in err and "No other checkpoint of this run loads" in err


@pytest.mark.slow
def test_a_missing_config_json_resumes_from_the_checkpoints_settings(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", *TINY]) == 0
    (out / "config.json").unlink()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "settings are read from" in err and "differ" not in err
    assert json.loads((out / "results.json").read_text())["epochs"] == 2


def test_an_unknown_key_in_config_json_names_the_file(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"config": {"model": "resnete_decoder_v1", "bogus_key": 1}}))
    assert main(["train", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'config.json'}: unknown setting 'bogus_key'" in err


def test_a_nan_in_the_first_epoch_says_no_epoch_is_kept(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*TRAIN, "--out", str(out), "--epochs", "1", "--lr", "1e30", *TINY]) == 2
    err = capsys.readouterr().err
    assert "the run has no finished epoch to keep" in err and "holds epoch 0" not in err


def test_the_memory_check_never_advises_a_batch_below_two(monkeypatch):
    import depthutils.train as train_mod
    from depthutils.config import TrainConfig
    from depthutils.models import build_model

    monkeypatch.setattr(train_mod, "_activation_bytes_per_pixel", lambda model: 10**9)  # nothing fits
    cfg = TrainConfig(model="resnete_decoder_v1", batch_size=2, image_size=64)
    with pytest.raises(ValueError) as e:
        train_mod._check_memory(build_model(cfg.model), cfg, torch.device("cpu"), "fp32", 2)
    assert "Lower --image-size" in str(e.value) and "batch-size (to" not in str(e.value)


@pytest.mark.slow
def test_a_full_disk_inside_torchs_zip_writer_is_named(tmp_path, capsys, monkeypatch):
    """torch.save to a path reports a failed write as a RuntimeError, not an OSError: it is named all the same."""
    import shutil as shutil_mod

    import depthutils.run_folder as rf

    def failed(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/3")

    monkeypatch.setattr(rf.torch, "save", failed)
    monkeypatch.setattr(shutil_mod, "disk_usage", lambda p: shutil_mod._ntuple_diskusage(10**9, 10**9, 0))
    assert main([*TRAIN, "--out", str(tmp_path / "r"), "--epochs", "1", *TINY]) == 2
    err = capsys.readouterr().err
    assert "the disk is full" in err and "last.pt" in err and "Traceback" not in err
    assert not list((tmp_path / "r").glob("*.pt"))  # no half-written checkpoint under a final name


def test_weights_of_another_architecture_or_a_bad_header_are_clear_errors(weights_copy, monkeypatch):
    import struct

    from depthutils.models import WeightsError, build_model, get_weights
    from depthutils.models.weights import meta_checksum

    meta = json.loads((weights_copy / "meta.json").read_text())
    meta["model"] = "lite0_unet"  # consistent (its checksum recomputed), but not the file's architecture
    meta["meta_sha256"] = meta_checksum(meta)
    (weights_copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="does not fit the 'lite0_unet' architecture"):
        build_model("lite0_unet", weights=get_weights().name)
    bad = weights_copy / "model.safetensors"
    bad.write_bytes(struct.pack("<Q", 2**40) + b"{}")  # a header that claims a terabyte
    import depthutils.models.weights as wmod

    monkeypatch.setattr(wmod, "sha256_file", lambda p: get_weights().meta["sha256"])  # past the checksum
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        get_weights().state_dict()


def test_retrain_checks_its_inputs_before_any_training(tmp_path, capsys, monkeypatch):
    """A missing --data was found only after 4000 synthetic rooms were rendered; --out a file gave a traceback."""
    import depthutils.retrain as retrain_mod

    monkeypatch.setattr(retrain_mod, "fit", lambda *a, **k: pytest.fail("training started"))
    base = ["retrain", "nyu-regnet-unet", "--gt-data", str(tmp_path)]
    assert main([*base, "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert f"--data {tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main([*base, "--data", str(tmp_path), "--out", str(tmp_path / "file")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


def test_a_killed_render_leaves_no_temporary_file_for_good(tmp_path, monkeypatch):
    from depthutils.data.dataset import synthetic_path

    monkeypatch.setenv("DEPTHUTILS_CACHE", str(tmp_path))
    folder = tmp_path / "synthetic_32x48_hw_n4_seed0"
    folder.mkdir()
    old, fresh = folder / ".nyu_depth_v2_labeled.mat.abc.mat.tmp", folder / ".nyu_depth_v2_labeled.mat.def.mat.tmp"
    for p in (old, fresh):
        p.write_bytes(b"x" * 1000)
    os.utime(old, (1_000_000_000, 1_000_000_000))  # untouched for years: a killed render's
    path = synthetic_path(4, (32, 48), 0)
    assert path.exists() and not old.exists() and fresh.exists()  # a render in progress keeps its file


@pytest.mark.slow
def test_resume_from_names_the_checkpoints_settings_and_the_runs_the_right_way_round(tmp_path, capsys):
    """--resume-from a bf16 run's checkpoint into an fp32 run: each value is attributed to where it comes from."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*TRAIN, "--out", str(a), "--epochs", "1", *TINY, "--precision", "bf16"]) == 0
    assert main([*TRAIN, "--out", str(b), "--epochs", "1", *TINY, "--precision", "fp32"]) == 0
    assert main(["train", "--out", str(b), "--resume-from", str(a / "last.pt"), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert f"precision: {a / 'last.pt'} has 'bf16', the run in {b} (and the flags) ask 'fp32'" in err
