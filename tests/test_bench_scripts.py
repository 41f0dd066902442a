"""The benchmark scripts in benchmarks/ run end to end (tiny CPU settings)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def deep_throughput():
    return load_script("deep_throughput")


def test_deep_throughput_smoke(deep_throughput, tmp_path):
    out = tmp_path / "table.md"
    text = deep_throughput.main([
        "--device", "cpu", "--arch", "resnet18", "--image-size", "32", "--batch-size", "4",
        "--steps", "2", "--warmup", "1", "--workers", "0", "--repeats", "1", "--num-classes", "4",
        "--out", str(out),
    ])
    assert out.read_text(encoding="utf-8") == text
    assert "resnet18, 32×32" in text and f"torch {torch.__version__}" in text
    rows = re.findall(r"^\| (plain float32 eager|domadapt `DeepAdapter`)[^|]*\| ([^|]+) \|", text, re.M)
    assert [r[0] for r in rows] == ["plain float32 eager", "domadapt `DeepAdapter`"]
    for _, rate in rows:  # a positive rate, or nan when noise exceeded the two timed steps
        assert rate.strip() == "nan" or float(rate) > 0
    assert "CPU run: the target applies to CUDA only" in text


def test_deep_throughput_data_is_normalised_images(deep_throughput):
    ds = deep_throughput.GeneratedImages(10, 4, 8, num_classes=3, seed=0)
    x, y = ds[6]
    raw = ds.images[2].float() / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    torch.testing.assert_close(x, (raw - mean) / std)
    assert y == 0 and ds.targets == [i % 3 for i in range(10)] and len(ds) == 10


def test_deep_throughput_both_sides_start_from_the_same_model(deep_throughput):
    args = deep_throughput.parse_args(["--arch", "resnet18", "--num-classes", "4"])
    (n1, d1), (n2, d2) = deep_throughput.build_model(args), deep_throughput.build_model(args)
    for a, b in zip(list(n1.state_dict().values()) + list(d1.state_dict().values()),
                    list(n2.state_dict().values()) + list(d2.state_dict().values())):
        assert torch.equal(a, b)


def test_deep_throughput_rejects_bad_arguments(deep_throughput):
    with pytest.raises(SystemExit):
        deep_throughput.parse_args(["--steps", "0"])
    with pytest.raises(SystemExit):
        deep_throughput.parse_args(["--batch-size", "4", "--warmup", "1"])  # 31 classes > 4 rows
