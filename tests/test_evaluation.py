"""Evaluating a checkpoint as a library call, without training: the checkpoints here are written by hand, from an
untrained model."""

from __future__ import annotations

import json
import math

import pytest
import torch

from depthutils.cli import main
from depthutils.config import TrainConfig
from depthutils.evaluation import evaluate_checkpoint
from depthutils.models import build_model
from depthutils.run_folder import RunFolder


def _untrained_checkpoint(tmp_path, **dataset) -> tuple:
    """last.pt of an untrained tiny model, as fit writes it (no training: the numbers do not matter here)."""
    cfg = TrainConfig(
        model="resnete_decoder_v1",
        data="synthetic",
        synth_count=24,
        synth_size=(64, 96),
        image_size=(64, 64),
        limit=8,
        test_limit=4,
        pretrained=False,
        epochs=1,
    )
    torch.manual_seed(0)
    model = build_model(cfg.model, pretrained=False)
    ck = {
        "model_name": cfg.model,
        "title": "ResNetE Decoder v1",
        "model_meta": model.meta,
        "config": cfg.to_dict(),
        "dataset": {"n_pairs_in_source": 24, "split": "report", **dataset},
        "pretrained": {"requested": "false", "used": "scratch"},
        "model_state": model.state_dict(),
        "epoch": 1,
        "history": [],
        "best_val_l1": math.inf,
        "train_time_s": 0.0,
    }
    run = RunFolder(tmp_path / "run")
    run.save_checkpoint(run.last, ck)
    return run.last, cfg


@pytest.mark.slow
def test_evaluate_checkpoint_is_what_the_cli_writes(tmp_path):
    path, _ = _untrained_checkpoint(tmp_path, train_indices=[], val_indices=[])
    res = evaluate_checkpoint(path, test_limit=3, flip_tta=False, precision="fp32", device="cpu")
    assert res["checkpoint"] == str(path) and res["epochs"] == 1 and res["precision"] == "fp32"
    std, rep = res["protocols"]["standard"], res["protocols"]["report"]
    assert std["n_images"] == rep["n_images"] == 3 and not std["protocol"]["flip_tta"]
    assert set(res["per_image"]) == {"report", "standard"} and res["dataset"]["n_test"] == 3
    from depthutils.evaluation import Evaluation

    assert set(res) <= set(Evaluation.__annotations__)  # the typed record names every key evaluate writes
    out = tmp_path / "ev.json"
    argv = ["--checkpoint", str(path), "--test-limit", "3", "--no-flip-tta", "--precision", "fp32", "--out", str(out)]
    assert main(["evaluate", *argv, "--device", "cpu"]) == 0
    cli = json.loads(out.read_text())
    for k in ("delta1", "abs_rel", "rmse"):
        assert cli["protocols"]["standard"][k] == pytest.approx(std[k], rel=1e-6)


@pytest.mark.slow
def test_evaluate_checkpoint_refuses_images_the_model_saw(tmp_path):
    from depthutils.data.dataset import load_data

    _, cfg = _untrained_checkpoint(tmp_path)
    test = load_data(cfg, with_train=False).identity["test_indices"]
    path, _ = _untrained_checkpoint(tmp_path, train_indices=test[:2], val_indices=[])
    with pytest.raises(ValueError, match="training or validation images"):
        evaluate_checkpoint(path, device="cpu")
    with pytest.raises(ValueError, match="exactly one"):
        evaluate_checkpoint(path, weights="nyu-regnet-unet")
