from __future__ import annotations

import warnings

import pytest
import torch
from timm.models._efficientnet_blocks import InvertedResidual
from torchvision.models.densenet import _DenseBlock
from torchvision.models.regnet import ResBottleneckBlock
from torchvision.models.resnet import BasicBlock, Bottleneck

from depthutils.models import build_model, get_spec, list_models, weights_file
from depthutils.models.encoders import ENCODER_WEIGHTS
from depthutils.models.inference import fold_batchnorm

NAMES = list_models()
FAMILY_BLOCK = {
    "resnet34": BasicBlock,
    "resnet50": Bottleneck,
    "densenet121": _DenseBlock,
    "regnet_x_400mf": ResBottleneckBlock,
    "efficientnet_lite0": InvertedResidual,
    "efficientnet_lite1": InvertedResidual,
    "efficientnet_lite2": InvertedResidual,
}


def test_registry_has_the_report_six_the_compact_model_and_the_lite_models():
    report = ["de_noskip", "resnete_decoder_v1", "resnete_decoder_v2", "resnete_decoder_v3", "densenet_unet"]
    lite = ["lite0_unet", "lite0_decoder_v3", "lite1_unet", "lite2_unet"]
    assert NAMES == sorted([*report, "resnet_unet", "regnet_unet", *lite])


def test_compact_model_fits_its_budget():
    """[compact]: at most 6 M parameters in the whole model (the shipped file stays small)."""
    assert build_model("regnet_unet").meta["n_params"] <= 6_000_000


def test_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="valid names: de_noskip, densenet_unet"):
        build_model("resnet_unett")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [(64, 96), (128, 128)])
def test_forward_backward(name, size):
    torch.manual_seed(0)
    m = build_model(name, pretrained=False)
    x = torch.rand(2, 3, *size)
    y = m(x)
    assert y.shape == (2, 1, *size)
    assert torch.isfinite(y).all() and (y >= 0).all()
    (y - 0.5).abs().mean().backward()
    with_grad = [p for p in m.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    # gradients reach the encoder's first conv and the head
    assert m.encoder.stages[0][0].weight.grad.abs().sum() > 0
    assert len(with_grad) > 0.9 * len(list(m.parameters()))


@pytest.mark.parametrize("name", NAMES)
def test_encoder_family(name):
    m = build_model(name)
    fam = m.encoder.family
    assert fam in get_spec(name).encoder
    kinds = {type(mod) for mod in m.encoder.modules()}
    assert FAMILY_BLOCK[fam] in kinds
    for other, block in FAMILY_BLOCK.items():
        if other != fam and block is not FAMILY_BLOCK[fam]:
            assert block not in kinds
    assert m.meta["pretrained_used"] == "scratch"


def test_noskip_has_no_layer4_and_resnet_unet_has_2048():
    assert build_model("de_noskip").encoder.channels[-1] == 1024
    assert build_model("resnet_unet").encoder.channels[-1] == 2048
    assert build_model("densenet_unet").encoder.channels[-1] == 1024


def test_bad_input_size():
    with pytest.raises(ValueError, match="multiples of 32"):
        build_model("resnete_decoder_v1")(torch.rand(1, 3, 100, 100))


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def _fake_imagenet(family: str) -> dict:
    """A state dict in torchvision's format with recognisable values, saved under torchvision's file name."""
    from torchvision import models as tvm

    net = getattr(tvm, family)()
    sd = net.state_dict()
    first = next(k for k in sd if k.endswith(("conv1.weight", "conv0.weight", "stem.0.weight")))
    sd[first] = torch.full_like(sd[first], 0.0123)
    path = weights_file(family)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return sd


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnete_decoder_v1", "densenet_unet", "regnet_unet"])
def test_pretrained_loads_cached_weights(torch_home, name):
    fam = build_model(name).encoder.family
    _fake_imagenet(fam)
    assert str(weights_file(fam)).startswith(str(torch_home))
    m = build_model(name, pretrained=True)
    assert m.meta["pretrained_used"] == "imagenet"
    assert torch.allclose(m.encoder.stages[0][0].weight, torch.tensor(0.0123))
    m2 = build_model(name, pretrained="auto")
    assert m2.meta["pretrained_used"] == "imagenet"


def test_pretrained_true_offline_says_where(torch_home, monkeypatch):
    import torch.hub

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(RuntimeError, match=r"put it at .*torch/hub/checkpoints/resnet34-"):
        build_model("resnete_decoder_v1", pretrained=True)


def test_pretrained_auto_falls_back_loudly(torch_home, monkeypatch):
    import torch.hub

    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.warns(RuntimeWarning, match="FROM SCRATCH"):
        m = build_model("resnete_decoder_v1", pretrained="auto")
    assert m.meta["pretrained_used"] == "scratch"


def test_pretrained_false_never_touches_network(torch_home, monkeypatch):
    import torch.hub

    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("network touched"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("network touched"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_model("resnet_unet", pretrained=False).meta["pretrained_used"] == "scratch"


def test_weights_file_is_torchvisions_name(torch_home):
    assert weights_file("resnet50").name == ENCODER_WEIGHTS["resnet50"].url.rsplit("/", 1)[1]


#: Pinned per architecture: parameter count and the sum of a seeded model's output on a seeded input (fp32, CPU).
#: A change here is a change of architecture or initialisation, i.e. of every number the study reports.
PINNED = {
    "de_noskip": (14_874_081, 6174.1850358),
    "densenet_unet": (10_623_521, 3504.4745977),
    "resnet_unet": (41_240_961, 3427.6595277),
    "resnete_decoder_v1": (24_972_609, 1805.1129576),
    "resnete_decoder_v2": (24_959_324, 5880.4025427),
    "resnete_decoder_v3": (24_909_345, 3728.6015218),
    "regnet_unet": (5_656_465, 2894.0329948),
    "lite0_unet": (4_182_549, 3548.3331759),
    "lite0_decoder_v3": (5_346_529, 3729.6378858),
    "lite1_unet": (4_469_171, 3276.2683645),
    "lite2_unet": (4_818_919, 3504.3045662),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_architecture_is_pinned(name):
    torch.manual_seed(0)
    m = build_model(name).eval()
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = m(x)
    n_params, out_sum = PINNED[name]
    assert m.meta["n_params"] == n_params
    assert float(y.double().sum()) == pytest.approx(out_sum, rel=1e-5)
    assert {n.split(".")[0] for n, _ in m.named_children()} == {"encoder", "decoder", "head"}


@pytest.mark.slow
@pytest.mark.parametrize("head", ["relu", "sigmoid", "exp"])
def test_heads_start_near_three_metres_and_cannot_go_negative(head):
    torch.manual_seed(0)
    m = build_model("resnete_decoder_v3", head=head).eval()
    with torch.no_grad():
        y = m(torch.rand(2, 3, 64, 64))
    assert (y >= 0).all() and torch.isfinite(y).all()
    if head != "relu":
        assert (y > 0).all()  # never dead
    with pytest.raises(ValueError, match="head activation"):
        build_model("resnete_decoder_v3", head="tanh")


#: BatchNorms that stay after fold_batchnorm: DenseNet's are BN → ReLU → conv; the others normalise a sum (skip_bns).
#: EfficientNet-Lite's 48 are timm's BatchNormAct2d (BatchNorm + ReLU6 in one module): folded, ReLU6 kept.
BN_LEFT_AFTER_FOLD = {
    "lite0_unet": 0,
    "lite0_decoder_v3": 0,
    "lite1_unet": 0,
    "lite2_unet": 0,
    "de_noskip": 3,
    "densenet_unet": 120,
    "regnet_unet": 0,
    "resnet_unet": 0,
    "resnete_decoder_v1": 4,
    "resnete_decoder_v2": 4,
    "resnete_decoder_v3": 0,
}


@pytest.mark.parametrize("name", NAMES)
def test_fold_batchnorm_keeps_the_function(name):
    """predict runs the models with their BatchNorms folded into the convolutions before them: the same depth.
    Random statistics and affines, so that a wrong pair or a lost bias shows (fresh BatchNorms are identities)."""
    torch.manual_seed(0)
    m = build_model(name).eval()
    bns = [mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = m(x)
        n = fold_batchnorm(m)
        after = m(x)
    left = sum(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())
    assert left == BN_LEFT_AFTER_FOLD[name] and n == len(bns) - left  # every chain folded (ResNet blocks too)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5 * float(before.abs().max()))


def test_fold_batchnorm_refuses_a_training_model():
    m = build_model("regnet_unet")
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(m)
    assert any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())
