"""Office-31 and ImageFolder-style image domains: layout checks, counts, class order, tasks,
corrupt files, and the train/test transforms (on small generated trees of JPEG files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from domadapt.datasets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OFFICE31_CLASSES,
    OFFICE31_DOMAINS,
    OFFICE31_TASKS,
    CorruptImageError,
    ImageDomainDataset,
    image_task,
    image_transforms,
    office31_image_task,
    office31_images,
    scan_image_root,
)

# images per class k in each domain of the generated tree (varying, so counts are informative)
PER_CLASS = {"amazon": lambda k: 1 + k % 3, "dslr": lambda k: 1, "webcam": lambda k: 1 + k % 2}


def _write_image(path: Path, rng: np.random.Generator, size: tuple[int, int] = (20, 24)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)).save(path, quality=90)


def make_office31_tree(root: Path, *, images_dir: bool = True) -> dict[str, list[int]]:
    """A tiny Office-31-shaped tree; returns the number of images per class and domain."""
    rng = np.random.default_rng(0)
    counts = {}
    for domain in OFFICE31_DOMAINS:
        counts[domain] = [PER_CLASS[domain](k) for k in range(len(OFFICE31_CLASSES))]
        base = root / domain / "images" if images_dir else root / domain
        for k, name in enumerate(OFFICE31_CLASSES):
            for i in range(counts[domain][k]):
                _write_image(base / name / f"frame_{i:04d}.jpg", rng)
    return counts


@pytest.fixture
def office31_root(tmp_path):
    root = tmp_path / "office31_images"
    return root, make_office31_tree(root)


# --- the Office-31 layout ----------------------------------------------------------------------


def test_counts_class_order_and_labels_follow_the_folders(office31_root):
    root, counts = office31_root
    assert list(OFFICE31_CLASSES) == sorted(OFFICE31_CLASSES)  # the standard order is alphabetical
    for domain in OFFICE31_DOMAINS:
        ds = office31_images(root, domain, transform=None)
        assert ds.classes == OFFICE31_CLASSES
        assert len(ds) == sum(counts[domain])
        assert list(ds.class_counts().values()) == counts[domain]
        # each label is the index of the class folder the file sits in
        for path, label in ds.samples:
            assert Path(path).parent.name == OFFICE31_CLASSES[label]
        np.testing.assert_array_equal(ds.targets, [label for _, label in ds.samples])
        assert ds.relative_paths()[0] == f"{domain}/images/back_pack/frame_0000.jpg"
        image, label = ds[len(ds) - 1]
        assert isinstance(image, Image.Image) and image.mode == "RGB" and label == 30


def test_letters_and_the_six_tasks(office31_root):
    root, counts = office31_root
    assert len(office31_images(root, "D", transform=None)) == sum(counts["dslr"])
    letters = {"A": "amazon", "D": "dslr", "W": "webcam"}
    for name in OFFICE31_TASKS:
        task = office31_image_task(name, root, image_size=16, resize_size=16)
        s, t = name.split("→")
        assert task.name == name and task.dataset == "office31_images"
        assert (task.source.domain, task.target.domain) == (letters[s], letters[t])
        assert (len(task.source), len(task.target)) == (sum(counts[letters[s]]), sum(counts[letters[t]]))
        assert task.class_names == OFFICE31_CLASSES and task.n_classes == 31
    assert office31_image_task("amazon->webcam", root).name == "A→W"
    with pytest.raises(ValueError, match="same domain"):
        office31_image_task("A→A", root)
    with pytest.raises(ValueError, match="unknown Office-31 domain"):
        office31_image_task("A→Q", root)


def test_batches_through_a_dataloader(office31_root):
    root, counts = office31_root
    task = office31_image_task("W→D", root, image_size=16, resize_size=18)
    images, labels = next(iter(DataLoader(task.source, batch_size=8)))
    assert images.shape == (8, 3, 16, 16) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == task.source.targets[:8].tolist()


def test_flat_layout_and_root_with_office31_subfolder(tmp_path):
    flat = tmp_path / "flat"
    counts = make_office31_tree(flat, images_dir=False)
    ds = office31_images(flat, "webcam", transform=None)
    assert len(ds) == sum(counts["webcam"]) and ds.folder == flat / "webcam"
    with pytest.raises(FileNotFoundError, match="layout='images'"):
        office31_images(flat, "webcam", layout="images")
    nested = tmp_path / "data"
    make_office31_tree(nested / "office31")  # images next to the feature files <root>/office31/*.npz
    assert office31_images(nested, "dslr", transform=None).folder == nested / "office31" / "dslr" / "images"


def test_one_error_names_every_missing_domain_and_class(office31_root):
    root, _ = office31_root
    shutil.rmtree(root / "webcam")
    shutil.rmtree(root / "dslr" / "images" / "mug")
    shutil.rmtree(root / "dslr" / "images" / "pen")
    for f in (root / "dslr" / "images" / "ruler").iterdir():  # an empty class folder
        f.unlink()
    with pytest.raises(FileNotFoundError) as info:
        office31_image_task("D→W", root)
    message = str(info.value)
    assert "domain 'webcam': folder" in message and "webcam' is missing" in message
    assert "2 of 31 class folders missing" in message and "mug, pen" in message
    assert "without images: ruler" in message
    assert "images/<class>" in message and "dslr 498, webcam 795" in message  # layout and counts, informative
    # the intact domain still loads
    assert len(office31_images(root, "amazon", transform=None)) > 0
    with pytest.raises(FileNotFoundError, match="does not exist"):
        office31_images(root / "nowhere", "amazon")


def test_corrupt_image_is_named_and_skipped_only_when_asked(office31_root):
    root, counts = office31_root
    bad = root / "dslr" / "images" / "bike" / "frame_0000.jpg"
    bad.write_bytes(b"this is not a JPEG file")
    with pytest.raises(CorruptImageError, match="frame_0000.jpg") as info:
        office31_images(root, "dslr")
    assert info.value.paths == [str(bad)] and "skip_corrupt=True" in str(info.value)
    with pytest.warns(UserWarning, match=r"skipped 1 corrupt.*bike/frame_0000\.jpg"):
        ds = office31_images(root, "dslr", skip_corrupt=True)
    assert len(ds) == sum(counts["dslr"]) - 1 and ds.skipped == [str(bad)]
    assert 1 not in ds.targets  # bike's only image is gone; the class stays in the label space
    assert ds.classes == OFFICE31_CLASSES


def test_truncated_image_is_found_when_checked_and_named_when_loaded(office31_root):
    root, _ = office31_root
    path = root / "webcam" / "images" / "mug" / "frame_0000.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a valid header, half the data
    for verify in ("header", "full"):
        with pytest.raises(CorruptImageError, match=r"mug/frame_0000\.jpg"):
            office31_images(root, "webcam", verify=verify)
    ds = office31_images(root, "webcam", transform=None, verify="none")  # not checked up front...
    index = [p for p, _ in ds.samples].index(str(path))
    ds[index - 1]
    with pytest.raises(CorruptImageError, match=r"cannot read image .*mug/frame_0000\.jpg"):
        ds[index]  # ...so loading it names the file
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(office31_images(root, "webcam", verify="full", skip_corrupt=True)) == len(ds) - 1


def test_a_corrupt_image_keeps_its_error_type_through_loader_workers(office31_root):
    root, _ = office31_root
    path = root / "webcam" / "images" / "mug" / "frame_0000.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    ds = office31_images(root, "webcam", transform="test", image_size=8, resize_size=8, verify="none")
    # a worker re-raises as type(exc)(message): the type survives, not a bare RuntimeError
    with pytest.raises(CorruptImageError, match=r"mug/frame_0000\.jpg"):
        for _ in DataLoader(ds, batch_size=8, num_workers=1):
            pass


def test_hidden_entries_symlink_loops_and_wide_images(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "sym"
    for name in ("a", "b"):
        _write_image(root / "D" / name / "x.jpg", rng, (12, 12))
    (root / "D" / "a" / "up").symlink_to(root / "D", target_is_directory=True)  # a loop
    (root / "D" / ".ipynb_checkpoints").mkdir()  # a hidden folder is no class
    (root / "D" / "a" / "._x.jpg").write_bytes(b"macOS resource fork, not an image")
    ds = ImageDomainDataset(root, "D", transform=None)
    assert ds.classes == ("a", "b") and ds.class_counts() == {"a": 1, "b": 1}
    assert len(ImageDomainDataset(root, "D", extensions=".jpg")) == 2  # one string is one ending
    # 16-bit grey: scaled to 8 bits (convert("RGB") alone would clip to 255, nearly white)
    ramp = (np.linspace(0, 65535, 256).astype(np.uint16)[None, :].repeat(4, axis=0))
    Image.fromarray(ramp).save(root / "D" / "b" / "wide.png")
    wide = ImageDomainDataset(root, "D", transform=None)
    image = np.asarray(wide[[p for p, _ in wide.samples].index(str(root / "D" / "b" / "wide.png"))][0])
    assert abs(image.mean() - 127.5) < 1.0 and image.min() == 0 and image.max() == 255
    # float pixels have no agreed range: refused by name
    Image.fromarray(np.ones((4, 4), dtype=np.float32)).save(root / "D" / "b" / "float.tif")
    floats = ImageDomainDataset(root, "D", transform=None, verify="none")
    with pytest.raises(CorruptImageError, match="float.tif.*mode 'F'"):
        floats[[p for p, _ in floats.samples].index(str(root / "D" / "b" / "float.tif"))]


# --- transforms --------------------------------------------------------------------------------


def test_test_transform_normalises_with_imagenet_statistics():
    colour = (10, 128, 250)
    image = Image.new("RGB", (60, 40), colour)
    out = image_transforms(train=False, image_size=16, resize_size=20)(image)
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    expected = (torch.tensor(colour) / 255.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(out, expected[:, None, None].expand(3, 16, 16), rtol=0, atol=1e-6)
    out = image_transforms(train=True, image_size=12)(image)
    assert out.shape == (3, 12, 12)
    torch.testing.assert_close(out, expected[:, None, None].expand(3, 12, 12), rtol=0, atol=1e-6)
    # other statistics (e.g. a backbone's own)
    out = image_transforms(image_size=8, resize_size=8, mean=(0.5,) * 3, std=(0.5,) * 3)(image)
    torch.testing.assert_close(out[:, 0, 0], torch.tensor(colour) / 127.5 - 1.0, rtol=0, atol=1e-6)


def test_test_transform_resizes_the_shorter_side_then_crops_the_centre():
    # 40 wide, 20 high: red columns 0-5, green 6-33, blue 34-39; resized to 16 high (32 wide),
    # the centre crop of 16 (input columns 10-29) is all green; a crop at either side is not
    array = np.zeros((20, 40, 3), dtype=np.uint8)
    array[:, :6, 0] = 255
    array[:, 6:34, 1] = 255
    array[:, 34:, 2] = 255
    out = image_transforms(train=False, image_size=16, resize_size=16, mean=(0,) * 3, std=(1,) * 3)(
        Image.fromarray(array)
    )
    torch.testing.assert_close(out[1], torch.ones(16, 16), rtol=0, atol=1e-6)
    assert out[0].abs().max() < 1e-6 and out[2].abs().max() < 1e-6


def test_train_transform_is_random_and_seeded():
    array = np.zeros((32, 32, 3), dtype=np.uint8)
    array[:, :16, 0] = 255  # left half red, right half blue
    array[:, 16:, 2] = 255
    image = Image.fromarray(array)
    train = image_transforms(train=True, image_size=32, scale=(1.0, 1.0), mean=(0,) * 3, std=(1,) * 3)
    left_red = set()
    for seed in range(16):
        torch.manual_seed(seed)
        out = train(image)
        left_red.add(bool(out[0, :, 0].mean() > 0.9))
        torch.manual_seed(seed)
        torch.testing.assert_close(train(image), out)  # same seed, same crop and flip
    assert left_red == {True, False}  # both orientations occur: the horizontal flip is random
    test = image_transforms(train=False, image_size=32, resize_size=32)
    torch.testing.assert_close(test(image), test(image))


def test_transform_arguments_are_checked():
    with pytest.raises(ValueError, match="resize_size=8 must be at least image_size=16"):
        image_transforms(image_size=16, resize_size=8)
    with pytest.raises(ValueError, match="std"):
        image_transforms(std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="mean"):
        image_transforms(mean=(0.5, 0.5))
    with pytest.raises(TypeError, match="image_size"):
        image_transforms(image_size=2.5)
    with pytest.raises(ValueError, match="transform='val'"):
        office31_image_task("A→W", ".", transform="val")


# --- any ImageFolder-style root ----------------------------------------------------------------


@pytest.fixture
def home_root(tmp_path):
    """Office-Home-like: ROOT/<domain>/<class>/*.jpg, class names with capitals."""
    rng = np.random.default_rng(1)
    root = tmp_path / "home"
    for domain, n in (("Art", 2), ("Clipart", 3)):
        for name in ("apple", "Bike", "Alarm_Clock"):
            for i in range(n):
                _write_image(root / domain / name / f"{i:05d}.png", rng, (12, 12))
        _write_image(root / domain / "Bike" / "sub" / "extra.JPG", rng, (12, 12))  # nested, upper-case suffix
        (root / domain / "Bike" / "notes.txt").write_text("not an image")
    return root


def test_imagefolder_root_classes_sorted_as_torchvision_does(home_root):
    task = image_task(home_root, "Art", "Clipart", transform="test", image_size=8, resize_size=8)
    assert task.class_names == ("Alarm_Clock", "Bike", "apple")  # sorted(), upper case first
    assert task.name == "Art→Clipart" and task.n_classes == 3
    assert (len(task.source), len(task.target)) == (3 * 2 + 1, 3 * 3 + 1)
    assert task.source.class_counts() == {"Alarm_Clock": 2, "Bike": 3, "apple": 2}
    assert task.source.samples[-1][0].endswith("apple/00001.png")
    x, y = task.target[0]
    assert x.shape == (3, 8, 8) and y == 0
    chosen = ImageDomainDataset(home_root, "Art", classes=["apple", "Bike"])
    assert chosen.classes == ("apple", "Bike") and chosen.targets.tolist() == [0, 0, 1, 1, 1]


def test_imagefolder_root_missing_class_in_one_domain(home_root):
    shutil.rmtree(home_root / "Clipart" / "Bike")
    with pytest.raises(FileNotFoundError, match=r"domain 'Clipart': 1 of 3 class folders missing .*: Bike"):
        image_task(home_root, "Art", "Clipart")
    with pytest.raises(FileNotFoundError, match="domain 'Product': folder .*Product' is missing"):
        scan_image_root(home_root, ["Art", "Product"])
    with pytest.raises(ValueError, match="layout="):
        scan_image_root(home_root, ["Art"], layout="nested")
    with pytest.raises(ValueError, match="duplicate"):
        scan_image_root(home_root, ["Art"], classes=["Bike", "Bike"])


def test_with_transform_keeps_the_files(home_root):
    task = image_task(home_root, "Art", "Clipart", image_size=8, resize_size=10)  # "train" by default
    test = task.with_transform("test")
    assert test.source.samples == task.source.samples and test.target.samples == task.target.samples
    torch.testing.assert_close(test.source[0][0], test.source[0][0])  # deterministic
    assert test.source[0][0].shape == task.source[0][0].shape == (3, 8, 8)
    assert task.meta["transform"] == "train" and test.meta["transform"] == "test"
    assert isinstance(task.with_transform(None).source[0][0], Image.Image)
