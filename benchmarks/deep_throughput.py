"""Training throughput of DANN on an image backbone: domadapt's DeepAdapter against a plain loop.

Both sides train the same model — ``Network.from_backbone(arch, 31)`` (backbone, 256-wide
bottleneck, linear head) with the DANN domain discriminator of
:class:`domadapt.deep.DomainAdversarialLoss` — on the same data, with SGD (momentum 0.9, Nesterov,
weight decay 5e-4), one source and one target batch of ``--batch-size`` images per step:

* **domadapt**: ``DeepAdapter(network, alignment=DomainAdversarialLoss(), ...)`` with its defaults
  (on CUDA: automatic mixed precision and channels-last), fed by torch ``Dataset`` s through its
  own DataLoaders with ``--workers`` worker processes.
* **plain**: the usual tutorial recipe, written out: float32, eager, NCHW, one
  ``DataLoader(shuffle=True, num_workers=--workers)`` per domain, ``x.to(device)``, forward,
  ``cross_entropy + dann_loss``, ``zero_grad``, ``backward``, ``step``.

Images/s counts every image that goes through the network (source and target). Data loading is
included on both sides: the data set holds ``--unique-images`` generated images as uint8 in
memory (a FakeData-style set: random pixels, random labels) and each item is converted to float
and normalised with the ImageNet statistics in the worker, as ``ToTensor`` + ``Normalize`` do.

Timing. The plain loop runs ``--warmup`` steps, synchronises, then is timed over ``--steps``
steps. ``DeepAdapter.fit`` is run twice, for ``--warmup`` and for ``--warmup + --steps`` steps
(one epoch each), and its training time (``report_["fit_time_s"]``, the loop only) is the
difference, so the one-off costs (worker start-up, first cuDNN calls) cancel as the warm-up
does on the plain side. The two sides alternate ``--repeats`` times; the table shows medians.

Run on a CUDA machine (from the repository root)::

    python benchmarks/deep_throughput.py --out benchmarks/deep_throughput.md

A CPU smoke run (seconds)::

    python benchmarks/deep_throughput.py --device cpu --arch resnet18 --image-size 32 \\
        --batch-size 4 --steps 2 --warmup 1 --workers 0 --repeats 1 --num-classes 4
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from domadapt import config_context  # noqa: E402
from domadapt.deep import DeepAdapter, DomainAdversarialLoss, Network  # noqa: E402
from domadapt.deep.backbones import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

TARGET_RATIO = 1.5


class GeneratedImages(Dataset):
    """``length`` items cycling over ``unique`` random uint8 images, normalised per item.

    Parameters
    ----------
    length : int
        Number of items.
    unique : int
        Number of distinct images held in memory.
    size : int
        Height and width.
    num_classes : int
        Item ``i`` has label ``i % num_classes`` (every class is present when
        ``length >= num_classes``).
    seed : int
        Seed of the pixels.
    """

    def __init__(self, length: int, unique: int, size: int, num_classes: int, seed: int):
        gen = torch.Generator().manual_seed(seed)
        self.length = length
        self.images = torch.randint(0, 256, (unique, 3, size, size), dtype=torch.uint8, generator=gen)
        self.targets = [i % num_classes for i in range(length)]
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index % self.images.shape[0]].float().div_(255.0)
        return (image - self.mean) / self.std, self.targets[index]


@dataclass
class Measure:
    """One timed run: images through the network and the seconds they took."""

    images: int
    seconds: float

    @property
    def rate(self) -> float:
        """Images per second; NaN when timing noise exceeded the timed steps (seconds <= 0)."""
        return self.images / self.seconds if self.seconds > 0 else float("nan")


def build_model(args: argparse.Namespace) -> tuple[Network, DomainAdversarialLoss]:
    """The DANN model both sides train: a Network and a built DANN loss (same seed, same weights)."""
    torch.manual_seed(args.seed)
    network = Network.from_backbone(args.arch, args.num_classes, weights=None, bottleneck_dim=256)
    dann = DomainAdversarialLoss()
    dann.build(network.feature_dim, args.num_classes)
    return network, dann


def datasets(args: argparse.Namespace, steps: int) -> tuple[GeneratedImages, GeneratedImages]:
    n = steps * args.batch_size
    return (
        GeneratedImages(n, args.unique_images, args.image_size, args.num_classes, seed=1),
        GeneratedImages(n, args.unique_images, args.image_size, args.num_classes, seed=2),
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_plain(args: argparse.Namespace, device: torch.device) -> Measure:
    """The tutorial loop: float32, eager, NCHW; ``--warmup`` untimed steps, then ``--steps``."""
    network, dann = build_model(args)
    network.to(device)
    dann.to(device)
    network.train()
    dann.train()
    params = list(network.parameters()) + list(dann.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    total = args.warmup + args.steps
    source, target = datasets(args, total)
    loaders = [
        DataLoader(ds, batch_size=args.batch_size, shuffle=True, drop_last=True,
                   num_workers=args.workers, generator=torch.Generator().manual_seed(args.seed + k))
        for k, ds in enumerate((source, target))
    ]
    start = 0.0
    for step, ((x_s, y_s), (x_t, _)) in enumerate(zip(*loaders)):
        if step == args.warmup:
            sync(device)
            start = time.perf_counter()
        x_s, y_s, x_t = x_s.to(device), y_s.to(device), x_t.to(device)
        features, logits = network(torch.cat([x_s, x_t]))
        n_s = x_s.shape[0]
        loss = F.cross_entropy(logits[:n_s], y_s) + dann(
            features[:n_s], features[n_s:], progress=step / total
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync(device)
    return Measure(2 * args.batch_size * args.steps, time.perf_counter() - start)


def fit_seconds(args: argparse.Namespace, device: torch.device, steps: int) -> tuple[float, dict]:
    """Training-loop seconds of one ``DeepAdapter.fit`` of ``steps`` steps (one epoch)."""
    network, _ = build_model(args)
    adapter = DeepAdapter(
        network, alignment=DomainAdversarialLoss(), epochs=1, batch_size=args.batch_size,
        num_workers=args.workers, compile=args.compile, random_state=args.seed,
        device=str(device), verbose=False,
    )
    source, target = datasets(args, steps)
    with config_context(report_discrepancy=False):
        adapter.fit(source, None, target)
    return adapter.report_["fit_time_s"], {**adapter.report_, "channels_last": adapter.channels_last_}


def run_domadapt(args: argparse.Namespace, device: torch.device) -> tuple[Measure, dict]:
    short, _ = fit_seconds(args, device, args.warmup)
    long, report = fit_seconds(args, device, args.warmup + args.steps)
    return Measure(2 * args.batch_size * args.steps, long - short), report


def machine(device: torch.device) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    where = f"{cpu}, {os.cpu_count()} logical cores"
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} ({where})"
    return where


def table(args: argparse.Namespace, device: torch.device, plain: list[Measure], ours: list[Measure],
          report: dict) -> str:
    plain_rate = statistics.median(m.rate for m in plain)
    our_rate = statistics.median(m.rate for m in ours)  # NaN runs (timing noise) show as nan
    ratio = our_rate / plain_rate
    step_imgs = 2 * args.batch_size
    cmd = "python benchmarks/deep_throughput.py " + " ".join(sys.argv[1:])
    lines = [
        f"# DANN training throughput, {args.arch}, {args.image_size}×{args.image_size}",
        "",
        f"- machine: {machine(device)}; device `{device}`",
        f"- torch {torch.__version__}; Python {platform.python_version()}; "
        f"date {datetime.date.today().isoformat()}",
        f"- command: `{cmd}`",
        f"- per step: {args.batch_size} source + {args.batch_size} target images; {args.steps} timed "
        f"steps after {args.warmup} warm-up steps; {args.workers} data-loader workers per domain; "
        f"median of {len(ours)} alternating repeats",
        f"- domadapt: AMP {report.get('amp') or 'off'}, channels-last "
        f"{'on' if report.get('channels_last') else 'off'}, compile {args.compile}",
        "",
        "| loop | images/s | ms/step | runs (images/s) |",
        "| --- | ---: | ---: | --- |",
        f"| plain float32 eager (tutorial) | {plain_rate:.1f} | {1000 * step_imgs / plain_rate:.1f} | "
        f"{', '.join(f'{m.rate:.1f}' for m in plain)} |",
        f"| domadapt `DeepAdapter` + `DomainAdversarialLoss` | {our_rate:.1f} | "
        f"{1000 * step_imgs / our_rate:.1f} | {', '.join(f'{m.rate:.1f}' for m in ours)} |",
        "",
        f"Ratio domadapt / plain: **{ratio:.2f}×**"
        + (f" (target ≥ {TARGET_RATIO}× on CUDA: {'met' if ratio >= TARGET_RATIO else 'missed'})"
           if device.type == "cuda" else " (CPU run: the target applies to CUDA only)"),
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--arch", default="resnet50", help="backbone name of load_backbone")
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before timing")
    parser.add_argument("--batch-size", type=int, default=32, help="images per domain per step")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=31, help="classes of the head (Office-31)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1) // 2,
                        help="data-loader workers per domain (both sides)")
    parser.add_argument("--unique-images", type=int, default=256,
                        help="distinct generated images held in memory per domain")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--compile", action="store_true", help="DeepAdapter(compile=True)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    for name in ("steps", "warmup", "batch_size", "image_size", "unique_images", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.workers < 0:
        parser.error("--workers must be at least 0")
    if args.batch_size < 3:
        parser.error("--batch-size must be at least 3 (BatchNorm needs more than one row)")
    if args.num_classes < 2 or args.warmup * args.batch_size < args.num_classes:
        parser.error("--num-classes must be at least 2 and at most --warmup × --batch-size "
                     "(every class must appear in the shortest run)")
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    plain: list[Measure] = []
    ours: list[Measure] = []
    report: dict = {}
    for _ in range(args.repeats):
        plain.append(run_plain(args, device))
        measure, report = run_domadapt(args, device)
        ours.append(measure)
    text = table(args, device, plain, ours, report)
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    main()
