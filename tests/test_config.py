"""TrainConfig: the one declaration of every setting; round trip, size convention, generated CLI flags."""

from __future__ import annotations

import dataclasses

import pytest

from depthutils.cli import build_parser
from depthutils.config import REPORT_EPOCHS, REPORT_ROWS, TrainConfig, config_fields, parse_size


def test_round_trip_through_json_types():
    cfg = TrainConfig(
        model="resnet_unet", image_size="96x128", synth_size=(48, 64), scale_aug=(0.8, 1.0), pretrained="false", limit=5
    )
    d = cfg.to_dict()
    assert d["image_size"] == [96, 128] and d["synth_size"] == [48, 64] and d["pretrained"] is False
    assert TrainConfig.from_dict(d) == cfg
    assert TrainConfig.from_dict({**d, "field_from_a_newer_version": 1}) == cfg  # unknown keys are ignored


def test_sizes_are_height_by_width():
    assert parse_size(128) == (128, 128) and parse_size("96x128") == (96, 128) and parse_size([96, 128]) == (96, 128)
    with pytest.raises(ValueError, match="HxW"):
        parse_size("wide")
    with pytest.raises(ValueError, match="multiples of 32"):
        TrainConfig(model="resnet_unet", image_size="100x128")


def test_epochs_stay_unset_until_resolved_and_derive_from_the_report_rows():
    cfg = TrainConfig(model="densenet_unet")
    assert cfg.epochs is None and cfg.resolved_epochs() == 100
    assert REPORT_EPOCHS == {r.model: r.epochs for r in REPORT_ROWS}
    assert TrainConfig(model="densenet_unet", epochs=3).resolved_epochs() == 3


def test_every_setting_is_a_train_flag_with_its_help_and_default():
    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices["train"]
    flags = {a.dest: a for a in sub._actions}
    for f in config_fields():
        assert f.name in flags, f.name
        assert f.metadata["help"] in flags[f.name].help and "default:" in flags[f.name].help
    assert {f.name for f in dataclasses.fields(TrainConfig)} - {f.name for f in config_fields()} == {"extra"}
    args = sub.parse_args(["--out", "o", "--model", "resnet_unet", "--no-flip-tta", "--scale-aug", "0.8", "1"])
    assert args.flip_tta is False and args.scale_aug == [0.8, 1.0] and not hasattr(args, "lr")  # unset: not passed
