"""TrainConfig: the one declaration of every setting; round trip, size convention, generated CLI flags."""

from __future__ import annotations

import dataclasses

import pytest

from depthutils.cli import build_parser
from depthutils.config import TrainConfig, config_fields, parse_size
from depthutils.study import report_rows


def test_round_trip_through_json_types():
    cfg = TrainConfig(
        model="resnet_unet", image_size="96x128", synth_size=(48, 64), scale_aug=(0.8, 1.0), pretrained="false", limit=5
    )
    d = cfg.to_dict()
    assert d["image_size"] == [96, 128] and d["synth_size"] == [48, 64] and d["pretrained"] is False
    assert TrainConfig.from_dict(d) == cfg


@pytest.mark.parametrize(
    ("key", "hint"),
    [("learning_rate", "lr"), ("batchsize", "batch_size"), ("epoch", "epochs"), ("spilt", "split"), ("colour", None)],
)
def test_an_unknown_setting_is_an_error_naming_the_nearest(key, hint):
    with pytest.raises(ValueError, match=f"unknown setting '{key}'") as e:
        TrainConfig.from_dict({"model": "resnet_unet", key: 1})
    assert (f"did you mean '{hint}'" in str(e.value)) if hint else "did you mean" not in str(e.value)


def test_configs_of_every_committed_run_still_load():
    """Old runs lack the settings added since (cutdepth, teacher, …): they load with those settings' defaults."""
    import json
    from pathlib import Path

    paths = sorted(Path(__file__).resolve().parents[1].glob("results/*/runs/*/results.json"))
    assert paths, "no committed results found"
    for p in paths:
        stored = json.loads(p.read_text())["config"]
        cfg = TrainConfig.from_dict(stored)
        assert {k: v for k, v in cfg.to_dict().items() if k in stored} == stored, p


def test_sizes_are_height_by_width():
    assert parse_size(128) == (128, 128) and parse_size("96x128") == (96, 128) and parse_size([96, 128]) == (96, 128)
    with pytest.raises(ValueError, match="HxW"):
        parse_size("wide")
    with pytest.raises(ValueError, match="multiples of 32"):
        TrainConfig(model="resnet_unet", image_size="100x128")


def test_epochs_stay_unset_until_resolved_and_derive_from_the_report_rows():
    from depthutils.study import default_epochs

    assert TrainConfig(model="densenet_unet").epochs is None and default_epochs("densenet_unet") == 100
    for r in report_rows():
        assert default_epochs(r.model) == r.epochs
    assert default_epochs("regnet_unet") == 50  # a model the report did not train


def test_every_setting_is_a_train_flag_with_its_help_and_default():
    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices["train"]
    flags = {a.dest: a for a in sub._actions}
    for f in config_fields():
        assert f.name in flags, f.name
        assert f.metadata["help"] in flags[f.name].help and "default:" in flags[f.name].help
    assert {f.name for f in dataclasses.fields(TrainConfig)} - {f.name for f in config_fields()} == {"extra"}
    args = sub.parse_args(["--out", "o", "--model", "resnet_unet", "--no-flip-tta", "--scale-aug", "0.8", "1"])
    assert args.flip_tta is False and args.scale_aug == [0.8, 1.0] and not hasattr(args, "lr")  # unset: not passed
