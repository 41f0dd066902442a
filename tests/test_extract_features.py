"""Feature extraction (domadapt.datasets.extract and ``domadapt extract-features``): shapes, the
cache, parity with a direct forward pass, the feature loaders, atomic writes, the command line.
A ResNet-18 with random weights on a generated Office-31-shaped tree at 32×32."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import domadapt.datasets.extract as extract_module
import domadapt.deep.backbones as backbones
from domadapt._torchvision import import_torchvision
from domadapt.cli import main
from domadapt.datasets import (
    OFFICE31_CLASSES,
    OFFICE31_DOMAINS,
    extract_features,
    image_transforms,
    load_feature_file,
    load_task,
    office31_images,
)

SIZE = {"image_size": 32, "resize_size": 32}
COUNTS = {"amazon": 2, "dslr": 1, "webcam": 1}  # images per class


def _tree(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for domain in OFFICE31_DOMAINS:
        for name in OFFICE31_CLASSES:
            folder = root / domain / "images" / name
            folder.mkdir(parents=True)
            for i in range(COUNTS[domain]):
                pixels = rng.integers(0, 256, size=(36, 40, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"frame_{i:04d}.jpg")
    return root


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The image tree and a random ResNet-18 weights file, shared by the module's tests."""
    base = tmp_path_factory.mktemp("extract")
    torch.manual_seed(0)
    model = import_torchvision("models").resnet18(weights=None)
    weights = base / "resnet18_random.pth"
    torch.save(model.state_dict(), weights)
    return _tree(base / "images"), weights


def test_shapes_labels_and_the_office31_loader(setup, tmp_path):
    root, weights = setup
    out = tmp_path / "feats"
    result = extract_features("resnet18", weights, root, out, batch_size=16, progress=False, **SIZE)
    assert list(result) == list(OFFICE31_DOMAINS)
    for domain, item in result.items():
        n = 31 * COUNTS[domain]
        assert item.path == out / f"{domain}.npz" and (item.n_samples, item.dim, item.cached) == (n, 512, False)
        X, y = load_feature_file(item.path)
        assert X.shape == (n, 512) and np.isfinite(X).all()
        np.testing.assert_array_equal(y, np.repeat(np.arange(31), COUNTS[domain]))
        with np.load(item.path, allow_pickle=False) as archive:
            assert archive["X"].dtype == np.float32
            assert archive["class_names"].tolist() == list(OFFICE31_CLASSES)
            assert archive["paths"][0] == f"{domain}/images/back_pack/frame_0000.jpg"
            assert str(archive["domain"]) == domain and str(archive["backbone"]) == "resnet18"
    task = load_task("office31", "A→W", data_root=out)
    assert task.source.X.shape == (62, 512) and task.target.X.shape == (31, 512)
    np.testing.assert_array_equal(task.source.X, load_feature_file(out / "amazon.npz")[0])
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_features_equal_a_direct_forward_pass(setup, tmp_path):
    root, weights = setup
    result = extract_features("resnet18", weights, root, tmp_path, domains=["dslr"], batch_size=7,
                              progress=False, **SIZE)  # 31 images: batches of 7 and a last one of 3
    model, _ = backbones.load_backbone("resnet18", weights)
    dataset = office31_images(root, "dslr", transform=image_transforms(False, **SIZE))
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.no_grad():
        expected = model.eval()(images).numpy()
    X, _ = load_feature_file(result["dslr"].path)
    np.testing.assert_allclose(X, expected, rtol=1e-5, atol=1e-5)


def test_second_run_reads_the_cache_and_changes_recompute(setup, tmp_path, monkeypatch):
    root, weights = setup
    kwargs = dict(domains=["dslr", "webcam"], progress=False, **SIZE)
    first = extract_features("resnet18", weights, root, tmp_path, **kwargs)
    stamps = {d: os.stat(item.path).st_mtime_ns for d, item in first.items()}

    def no_backbone(*args, **kwargs):
        raise AssertionError("the backbone must not be built when every file is cached")

    with monkeypatch.context() as patch:
        patch.setattr(backbones, "load_backbone", no_backbone)
        second = extract_features("resnet18", weights, root, tmp_path, **kwargs)
    assert all(item.cached for item in second.values())
    assert {d: os.stat(item.path).st_mtime_ns for d, item in second.items()} == stamps
    assert (second["dslr"].n_samples, second["dslr"].dim) == (31, 512)

    # another image in one domain: that domain only is recomputed
    extra = root / "webcam" / "images" / "mug" / "frame_0001.jpg"
    Image.new("RGB", (36, 40), (200, 10, 10)).save(extra)
    try:
        third = extract_features("resnet18", weights, root, tmp_path, **kwargs)
    finally:
        extra.unlink()
    assert (third["dslr"].cached, third["webcam"].cached) == (True, False)
    assert third["webcam"].n_samples == 32
    # another transform, other weights, or force: everything recomputed
    assert not any(i.cached for i in extract_features("resnet18", weights, root, tmp_path,
                                                      domains=["dslr"], progress=False,
                                                      image_size=32, resize_size=40).values())
    torch.manual_seed(1)
    other = tmp_path / "other.pth"
    torch.save(import_torchvision("models").resnet18(weights=None).state_dict(), other)
    assert not extract_features("resnet18", other, root, tmp_path, domains=["dslr"], progress=False,
                                **SIZE)["dslr"].cached
    assert not extract_features("resnet18", other, root, tmp_path, domains=["dslr"], progress=False,
                                force=True, **SIZE)["dslr"].cached


def test_npz_stem_output_and_failed_write_keeps_the_old_file(setup, tmp_path, monkeypatch):
    root, weights = setup
    out = tmp_path / "feats.npz"
    result = extract_features("resnet18", weights, root, out, domains=["dslr", "webcam"], progress=False, **SIZE)
    assert result["dslr"].path == tmp_path / "feats_dslr.npz"
    task = load_task("office31", "D→W", data_root=tmp_path, file_pattern="feats_{domain}")
    assert task.source.X.shape == (31, 512)

    before = (tmp_path / "feats_dslr.npz").read_bytes()

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(extract_module.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract_features("resnet18", weights, root, out, domains=["dslr"], progress=False, force=True, **SIZE)
    assert (tmp_path / "feats_dslr.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats_dslr.npz", "feats_webcam.npz"]


def test_a_class_subset_keeps_its_labels_and_damaged_caches_are_recomputed(setup, tmp_path):
    root, weights = setup
    out = tmp_path / "sub"
    extract_features("resnet18", weights, root, out, domains=["dslr", "webcam"], classes=["mug", "bike"],
                     progress=False, **SIZE)
    task = load_task("office31", "D→W", data_root=out)
    names = [OFFICE31_CLASSES[k] for k in task.source.y]
    assert names == ["mug", "bike"]  # read through the file's class_names, not as 0..30
    assert oct((out / "dslr.npz").stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # not private
    # an empty, a truncated and a lone-array file under the cache's name: recomputed, not a crash
    good = (out / "webcam.npz").read_bytes()
    for damaged in (b"", good[: len(good) // 2]):
        (out / "webcam.npz").write_bytes(damaged)
        result = extract_features("resnet18", weights, root, out, domains=["webcam"], classes=["mug", "bike"],
                                  progress=False, **SIZE)
        assert not result["webcam"].cached and load_feature_file(out / "webcam.npz")[0].shape == (2, 512)
    np.save(out / "lone.npy", np.zeros(3))
    os.replace(out / "lone.npy", out / "webcam.npz")
    result = extract_features("resnet18", weights, root, out, domains=["webcam"], classes=["mug", "bike"],
                              progress=False, **SIZE)
    assert not result["webcam"].cached


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_any_imagefolder_root(tmp_path):
    rng = np.random.default_rng(2)
    for domain in ("Art", "Clipart"):
        for name in ("chair", "Mug"):
            (tmp_path / "home" / domain / name).mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, size=(20, 20, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / "home" / domain / name / f"{i}.png")
    torch.manual_seed(0)
    result = extract_features("resnet18", None, tmp_path / "home", tmp_path / "out", domains=["Art", "Clipart"],
                              progress=False, image_size=16, resize_size=16)
    with np.load(result["Clipart"].path, allow_pickle=False) as archive:
        assert archive["class_names"].tolist() == ["Mug", "chair"]
        assert archive["y"].tolist() == [0, 0, 1, 1] and archive["X"].shape == (4, 512)
        assert str(archive["weights"]) == ""


def test_errors(setup, tmp_path):
    root, weights = setup
    with pytest.raises(FileNotFoundError, match="domain 'Product': folder"):
        extract_features("resnet18", weights, root, tmp_path, domains=["Product"], progress=False)
    with pytest.raises(ValueError, match="unknown backbone"):
        extract_features("resnet7", weights, root, tmp_path, progress=False)
    with pytest.raises(ValueError, match="batch_size=0"):
        extract_features("resnet18", weights, root, tmp_path, batch_size=0, progress=False)
    with pytest.raises(TypeError, match="domains"):
        extract_features("resnet18", weights, root, tmp_path, domains="dslr", progress=False)
    assert not list(tmp_path.iterdir())


def test_command_line_end_to_end(setup, tmp_path, capsys):
    root, weights = setup
    argv = ["extract-features", "--backbone", "resnet18", "--weights", str(weights), "--data-root", str(root),
            "--out", str(tmp_path / "feats"), "--domains", "dslr,webcam", "--image-size", "32",
            "--resize-size", "32", "--num-workers", "0", "--batch-size", "16", "--no-progress"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["dslr", "webcam"]
    assert all(line.endswith("31 x 512\textracted") for line in lines)
    assert load_feature_file(tmp_path / "feats" / "webcam.npz")[0].shape == (31, 512)
    assert main(argv) == 0
    assert all(line.endswith("cached") for line in capsys.readouterr().out.splitlines())

    assert main(argv[:2] + ["resnet7"] + argv[3:]) == 2
    assert "unknown backbone" in capsys.readouterr().err
    missing = argv[:6] + [str(tmp_path / "nowhere")] + argv[7:]
    assert main(missing) == 2
    assert "nowhere" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    blocked = argv[:7] + ["--out", str(tmp_path / "a_file" / "feats")] + argv[9:]
    assert main(blocked) == 2  # an output path under a file: one line, no traceback
    assert "a_file" in capsys.readouterr().err


def test_committed_office31_config_runs_on_extracted_features(setup, tmp_path):
    """The two documented steps of benchmarks/office31/resnet50.toml, on generated images: the
    extracted features feed the committed config unchanged (a subset of it, by flags)."""
    root, weights = setup
    data = tmp_path / "data"
    assert main(["extract-features", "--backbone", "resnet18", "--weights", str(weights),
                 "--data-root", str(root), "--out", str(data / "office31"), "--image-size", "32",
                 "--resize-size", "32", "--no-progress"]) == 0
    config = Path(__file__).resolve().parents[1] / "benchmarks" / "office31" / "resnet50.toml"
    out = tmp_path / "bench"
    assert main(["bench", "--config", str(config), "--data-root", str(data), "--tasks", "A→W",
                 "--methods", "NoAdapt,CORAL,KMM", "--seeds", "1", "--out", str(out),
                 "--no-progress"]) == 0
    records = [line for line in (out / "records.jsonl").read_text().splitlines() if line]
    assert len(records) == 3 and "A→W" in (out / "table.md").read_text()
