"""DeepAdapter: one training loop for deep domain adaptation, fine-tuning and distillation.

Every step draws a labelled source batch and an unlabelled target batch together, passes both
through one :class:`~domadapt.deep.network.Network` and minimises ::

    loss = CE(logits_s, y_s) + trade_off · alignment(f_s, f_t, ...) + finetune.penalty(network)
           + Σ _extra_losses(...)

with SGD (momentum 0.9, Nesterov) or Adam under the annealed learning rate of Ganin &
Lempitsky (2015). The alignment loss (DAN, Deep CORAL, DANN, CDAN, ... from
:mod:`domadapt.deep.losses`), the fine-tuning strategy (:class:`domadapt.model.FineTuning`) and
the extra terms of subclasses (relational distillation) are the pluggable parts; the loop, its
seeding, checkpoints, mixed precision, ``torch.compile`` and DistributedDataParallel are here,
once.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import pickle
import time
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, default_collate
from tqdm.auto import tqdm

from .._array import ArrayLike, origin_of, resolve_device, to_numpy, to_output, to_tensor
from .._config import get_config
from .._validation import (
    check_array,
    check_domain,
    check_labels,
    check_same_device,
    check_same_features,
    known_rows,
    seed_from,
)
from ..base import Adapter, _labels_like, _measure, _sync
from .losses import AlignmentLoss
from .network import Network

__all__ = ["CHECKPOINT_FILE", "DeepAdapter", "SELECTIONS", "annealed_lr"]

#: Model-selection protocols of :class:`DeepAdapter`.
SELECTIONS: tuple[str, ...] = ("last-epoch", "source-val", "oracle-target")
#: Name of the checkpoint file inside ``checkpoint_dir``.
CHECKPOINT_FILE = "deep_adapter.pt"
_FORMAT = 1
# parameters that do not change what is learned: a checkpoint may be resumed under other values
# (compile changes only the floating-point rounding, not the computation)
# (num_workers is not among them: with workers, a Dataset's random augmentations draw from the
# loader's worker seeds instead of the main process's stream, so the result would change)
_RUN_ONLY = ("verbose", "checkpoint_dir", "device", "compile")
_BUILTIN_TERMS = ("loss", "ce", "alignment", "penalty")


def annealed_lr(lr: float, progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """The annealed learning rate of domain adaptation: ``lr · (1 + alpha·p)^(−beta)``.

    ``p = progress`` in [0, 1] is the fraction of training done (iteration / total
    iterations). With the default ``alpha = 10``, ``beta = 0.75`` the rate falls from ``lr`` to
    ``lr · 11^(−0.75) ≈ 0.166 lr``; it is the schedule of DANN, DAN, JAN and CDAN.

    Parameters
    ----------
    lr : float
        Initial rate.
    progress : float
        Fraction of training done, in [0, 1].
    alpha, beta : float
        Schedule constants.

    Returns
    -------
    float

    References
    ----------
    Y. Ganin, V. Lempitsky. Unsupervised Domain Adaptation by Backpropagation. ICML 2015.
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress}")
    return float(lr) * (1.0 + alpha * float(progress)) ** (-beta)


class DeepAdapter(Adapter):
    """Deep domain adaptation: a network trained on source labels with an alignment loss.

    ``fit`` trains ``network`` (an MLP on feature vectors by default, or any
    :class:`~domadapt.deep.network.Network`) on labelled source and unlabelled target batches
    drawn together, minimising per step ::

        CE(logits_s, y_s) + trade_off · alignment(f_s, f_t, logits_s=, logits_t=, y_s=, progress=)
            + finetune.penalty(network) + Σ self._extra_losses(...)

    where ``f`` are the bottleneck features and ``progress`` the fraction of training done.
    Without ``alignment`` it is the source-only baseline. ``transform`` returns the bottleneck
    features; ``predict`` / ``predict_proba`` use the network's head (argmax / softmax) unless an
    ``estimator`` is given, which is then fitted on the final features like in every adapter.

    Batches: an epoch is one pass over the larger domain; the smaller one is cycled. Each
    domain's rows come from fresh seeded permutations, ``min(batch_size, n)`` rows per batch, so
    every batch is full. Source and target batches go through the network in one forward pass
    (BatchNorm layers see both domains), and the losses are computed in float32.

    Optimisation: SGD with momentum 0.9 and Nesterov (or Adam) with ``weight_decay``, the rate of
    every parameter group set each step to ``initial_lr · (1 + 10 p)^(−0.75)``
    (:func:`annealed_lr`, Ganin & Lempitsky 2015). Without ``finetune`` all trainable network
    parameters form one group at ``lr``; with it, the groups come from
    ``finetune.param_groups(network, lr)`` and its hooks run as in
    :class:`domadapt.model.FineTuning`. The alignment loss's own parameters (domain
    discriminators) form one more group at ``lr``.

    Model selection (``selection``) never reads target labels unless asked for the oracle:
    ``"last-epoch"`` keeps the final weights; ``"source-val"`` holds out a stratified
    ``validation_fraction`` of the source and keeps the epoch with the best accuracy on it;
    ``"oracle-target"`` keeps the epoch with the best *target* accuracy and needs ``y_target``
    with every label known — an upper bound, labelled as such in ``report_``.

    Reproducibility and resumption: all randomness (initialisation, batch order, dropout,
    data-loader workers) derives from ``random_state``, the epoch and the process rank, inside a
    forked torch RNG (the global RNG state is left as it was). With ``checkpoint_dir``, the
    state after every epoch (network, alignment, optimizer, grad scaler, iteration, history,
    selected weights, seed) is written atomically to ``checkpoint_dir/deep_adapter.pt``; a later
    ``fit`` with the same parameters (``verbose``, ``device``, ``compile`` and
    ``checkpoint_dir`` may differ) and data (the same values for arrays and tensors, the same
    sizes for a ``Dataset``) resumes from it and ends with the same weights
    as an uninterrupted run. A checkpoint of other parameters raises ``ValueError``. No RNG
    state needs saving: each epoch's randomness is drawn from seeds derived from
    ``(seed, epoch, rank)``.

    Distributed training: under ``torchrun`` (``WORLD_SIZE > 1``; the process group is
    initialised with NCCL on CUDA, Gloo on the CPU, unless already initialised) the trainable
    modules are wrapped in ``DistributedDataParallel``; every process draws the same global
    batch and takes its contiguous share (``batch_size`` must be divisible by the number of
    processes), gradients are averaged, and the alignment loss sees the features of the whole
    global batch (gathered with gradients), so the result equals the single-process run up to
    floating-point rounding — except for BatchNorm statistics, which are per process (convert
    the network with ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` on GPUs to share them)
    and the ``_extra_losses`` terms, computed on each process's share. Only rank 0 writes
    checkpoints and shows the progress bar.

    Parameters
    ----------
    network : "mlp" or torch.nn.Module, default="mlp"
        ``"mlp"``: ``Network.from_features(n_features, n_classes, hidden, bottleneck_dim=,
        dropout=)`` built at ``fit``. A module (typically a ``Network``) must return
        ``(features, logits)`` and have an int attribute ``feature_dim``; it is deep-copied at
        ``fit`` (the fitted copy is ``network_``).
    alignment : AlignmentLoss or None, default=None
        Deep-copied at ``fit``, then ``build(feature_dim, n_classes)`` is called on the copy.
    trade_off : float, default=1.0
        Weight of the alignment loss.
    finetune : FineTuning or None, default=None
        Fine-tuning strategy (deep-copied at ``fit``).
    hidden : tuple of int, default=(256,)
        Hidden widths of the ``"mlp"`` network.
    bottleneck_dim : int or None, default=None
        Bottleneck of the ``"mlp"`` network.
    dropout : float, default=0.0
        Dropout of the ``"mlp"`` network.
    epochs : int, default=20
    batch_size : int, default=32
        Rows per domain per step (the global batch under DDP).
    optimizer : {"sgd", "adam"}, default="sgd"
    lr : float, default=0.01
        Initial learning rate (0.01 is the SGD rate of DANN and CDAN; use about 1e-3 for Adam).
    weight_decay : float, default=5e-4
    amp : "auto" or bool, default="auto"
        Automatic mixed precision for the network's forward pass: bfloat16 (float16 with a
        gradient scaler where bfloat16 is unsupported) on CUDA, bfloat16 on the CPU. ``"auto"``:
        on for CUDA.
    channels_last : "auto" or bool, default="auto"
        Channels-last memory format for image batches (4-D inputs). ``"auto"``: on for CUDA.
    compile : bool or str, default=False
        ``torch.compile`` the network's forward pass for training (a string names the
        backend, e.g. ``"inductor"``, ``"aot_eager"``).
    checkpoint_dir : str, path-like or None, default=None
        Folder of the per-epoch checkpoint (created if needed).
    selection : {"last-epoch", "source-val", "oracle-target"}, default="last-epoch"
    validation_fraction : float, default=0.1
        Share of the source held out by ``selection="source-val"``.
    num_workers : int, default=0
        Data-loader worker processes for ``Dataset`` inputs.
    random_state : int or None, default=None
    device : str or torch.device, default="auto"
    verbose : bool, default=True
        Show a progress bar with the loss terms (also switched off by
        ``domadapt.set_config(progress=False)``).
    estimator : sklearn classifier or None, default=None
        When given, fitted on the final features and used by ``predict``/``score``.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network (in eval mode), on ``device_``.
    alignment_ : AlignmentLoss or None
    finetune_ : FineTuning or None
    history_ : dict of str to list of float
        Per-epoch means of every loss term (``loss``, ``ce``, ``alignment``, ``penalty`` and the
        names of ``_extra_losses``), ``lr`` (the first group's rate at the epoch's last step),
        and ``source_val_accuracy`` / ``oracle_target_accuracy`` under those selections.
    classes_ : ndarray
    input_shape_ : tuple of int
        Shape of one input row (``(n_features,)`` for arrays).
    report_ : dict
        The keys of :class:`~domadapt.base.Adapter` (``discrepancy_before`` is measured on the
        features of the network at initialisation, ``discrepancy_after`` on the trained one's),
        plus ``epochs``, ``iterations_per_epoch``, ``world_size``, ``amp``, ``resumed_from_epoch``,
        ``selection`` (``{"protocol", "epoch", "score"}``, 1-based epoch) and, only for
        ``selection="oracle-target"``, ``"oracle-target"`` saying that target labels chose the
        epoch.

    Input
    -----
    ``fit(X, y, X_target, y_target=None)`` takes 2-D arrays or tensors as every adapter, or
    torch ``Dataset`` s: ``fit(source, None, target)`` where ``source`` yields ``(x, y)`` and
    ``target`` yields ``x`` or ``(x, anything)`` (target labels in the dataset are never read;
    pass ``y_target`` for the oracle). Source labels are read from ``source.targets`` when it
    exists, else once from the items. ``transform``, ``predict``, ``predict_proba`` and ``score``
    accept the same kinds (a ``Dataset`` in gives numpy out; ``score(dataset)`` reads the
    labels from the dataset).

    References
    ----------
    Y. Ganin, V. Lempitsky. Unsupervised Domain Adaptation by Backpropagation. ICML 2015.

    Y. Ganin, E. Ustinova, H. Ajakan, P. Germain, H. Larochelle, F. Laviolette, M. Marchand,
    V. Lempitsky. Domain-Adversarial Training of Neural Networks. JMLR 17(59), 2016.

    M. Long, Y. Cao, J. Wang, M. I. Jordan. Learning Transferable Features with Deep Adaptation
    Networks. ICML 2015.

    K. You, X. Wang, M. Long, M. I. Jordan. Towards Accurate Model Selection in Deep
    Unsupervised Domain Adaptation. ICML 2019 (on why target labels must not select models).
    """

    _needs_classes = True

    def __init__(
        self,
        network: str | nn.Module = "mlp",
        alignment: AlignmentLoss | None = None,
        trade_off: float = 1.0,
        finetune: Any = None,
        *,
        hidden: tuple[int, ...] = (256,),
        bottleneck_dim: int | None = None,
        dropout: float = 0.0,
        epochs: int = 20,
        batch_size: int = 32,
        optimizer: str = "sgd",
        lr: float = 0.01,
        weight_decay: float = 5e-4,
        amp: str | bool = "auto",
        channels_last: str | bool = "auto",
        compile: bool | str = False,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        selection: str = "last-epoch",
        validation_fraction: float = 0.1,
        num_workers: int = 0,
        random_state: int | None = None,
        device: str = "auto",
        verbose: bool = True,
        estimator: Any = None,
    ):
        self.network = network
        self.alignment = alignment
        self.trade_off = trade_off
        self.finetune = finetune
        self.hidden = hidden
        self.bottleneck_dim = bottleneck_dim
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.amp = amp
        self.channels_last = channels_last
        self.compile = compile
        self.checkpoint_dir = checkpoint_dir
        self.selection = selection
        self.validation_fraction = validation_fraction
        self.num_workers = num_workers
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.estimator = estimator

    # ------------------------------------------------------------------ the hook
    def _extra_losses(
        self,
        x_s: torch.Tensor,
        x_t: torch.Tensor,
        f_s: torch.Tensor,
        f_t: torch.Tensor,
        logits_s: torch.Tensor,
        logits_t: torch.Tensor,
        y_s: torch.Tensor,
        progress: float,
    ) -> dict[str, torch.Tensor]:
        """Further named loss terms of a step, added to the loss (none here; subclasses add).

        Receives the step's input batches, their features and logits (float32) and the source
        labels (under DDP: this process's share), and ``progress`` in [0, 1]. Every returned
        term is shown in the progress bar and averaged per epoch in ``history_``; names must not
        be ``loss``, ``ce``, ``alignment`` or ``penalty``.
        """
        return {}

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: ArrayLike | Dataset,
        y: ArrayLike | None = None,
        X_target: ArrayLike | Dataset | None = None,
        y_target: ArrayLike | None = None,
    ) -> "DeepAdapter":
        """Train the network on labelled source and unlabelled target data.

        Parameters
        ----------
        X : array, tensor of shape (n_source, n_features), or Dataset of (x, y)
        y : array or tensor of shape (n_source,), or None when ``X`` is a Dataset
        X_target : array, tensor of shape (n_target, n_features), or Dataset
        y_target : array or tensor of shape (n_target,), optional
            Target labels, ``-1`` where unknown. They are used only by ``estimator`` (labelled
            rows join its training set) and by ``selection="oracle-target"`` (which needs all).

        Returns
        -------
        self : DeepAdapter
        """
        self._check_params()
        source, target, y_np, yt_np, shape = _read_inputs(X, y, X_target, y_target)
        rank, world = _process_group_info()
        device = self._resolve_device(X, X_target, world)
        rank, world = _init_process_group(device, rank, world)
        ys, yt = self._encode_labels(y_np, yt_np, device)
        if self.selection == "oracle-target" and (yt is None or bool((yt == -1).any())):
            raise ValueError(
                "selection='oracle-target' needs y_target with every target label known; "
                "the other selections never read target labels"
            )
        for attr in ("n_features_in_", "network_", "alignment_", "finetune_", "history_", "report_",
                     "estimator_"):
            self.__dict__.pop(attr, None)
        self.input_shape_ = shape
        self.device_ = device
        self.amp_dtype_ = _amp_dtype(self.amp, device)
        self.channels_last_ = len(shape) == 3 and (
            device.type == "cuda" if self.channels_last == "auto" else bool(self.channels_last)
        )
        ckpt_path = None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / CHECKPOINT_FILE
        ckpt = _read_checkpoint(ckpt_path, device)
        seed = int(ckpt["seed"]) if ckpt is not None and self.random_state is None else seed_from(
            self.random_state
        )
        fork = [device.index if device.index is not None else torch.cuda.current_device()] if (
            device.type == "cuda"
        ) else []
        with torch.random.fork_rng(devices=fork):
            self._train(
                source, target, ys, yt, y_np, yt_np, device, rank, world, seed, ckpt, ckpt_path
            )
        return self

    def _train(
        self,
        source: "_Data",
        target: "_Data",
        ys: torch.Tensor,
        yt: torch.Tensor | None,
        y_np: np.ndarray,
        yt_np: np.ndarray | None,
        device: torch.device,
        rank: int,
        world: int,
        seed: int,
        ckpt: dict[str, Any] | None,
        ckpt_path: Path | None,
    ) -> None:
        n_classes = len(self.classes_)
        shape = self.input_shape_
        n_features = shape[0] if len(shape) == 1 else int(np.prod(shape))
        source = source.to(device)
        target = target.to(device)
        _seed_torch(_derive(seed, "init"), device)
        network = self._build_network(n_classes, device)
        dtype = _param_dtype(network)
        infer = _Inference(self._eval_batch_size(), device, dtype, self.amp_dtype_, self.channels_last_,
                           self.num_workers)
        _check_network_output(network, source, n_classes, infer)
        alignment = None
        if self.alignment is not None:
            alignment = copy.deepcopy(self.alignment)
            alignment.build(network.feature_dim, n_classes)
            alignment.to(device)
        finetune = None
        if self.finetune is not None:
            finetune = copy.deepcopy(self.finetune)
            finetune.setup(network)

        # the rows: training source (all of it, or all but the validation share) and target
        train_rows = np.arange(len(source))
        val_rows = None
        if self.selection == "source-val":
            train_rows, val_rows = _stratified_split(y_np, self.validation_fraction, seed)
        train_src = source.subset(train_rows)
        ys_train = ys[torch.as_tensor(train_rows, device=device)]
        b_s, b_t = min(self.batch_size, len(train_src)), min(self.batch_size, len(target))
        for name, b in (("source", b_s), ("target", b_t)):
            if b % world:
                raise ValueError(
                    f"the {name} batch of {b} rows cannot be shared by {world} processes: choose a "
                    "batch_size divisible by the number of processes (and at most the domain size)"
                )
        n_iter = max(math.ceil(len(train_src) / b_s), math.ceil(len(target) / b_t))
        total = self.epochs * n_iter

        report: dict[str, Any] = {
            "method": type(self).__name__,
            "device": str(device),
            "dtype": str(dtype).replace("torch.", ""),
            "n_source": len(source),
            "n_target": len(target),
            "n_features_in": n_features,
            "epochs": int(self.epochs),
            "iterations_per_epoch": n_iter,
            "world_size": world,
            "amp": None if self.amp_dtype_ is None else str(self.amp_dtype_).replace("torch.", ""),
        }
        measure = get_config()["report_discrepancy"]
        report_rows = (
            _report_rows(len(source), self._report_seed()),
            _report_rows(len(target), self._report_seed() + 1),
        )
        if measure:
            report["discrepancy_before"] = self._discrepancy(network, source, target, report_rows, infer)

        optimizer = self._make_optimizer(network, alignment, finetune)
        scaler = torch.amp.GradScaler("cuda") if self.amp_dtype_ == torch.float16 else None
        history: dict[str, list[float]] = {}
        best: dict[str, Any] | None = None
        start_epoch, iteration = 0, 0
        # the fingerprint hashes every weight of a module network: only when checkpointing
        signature = None if ckpt_path is None else self._signature(source, target, shape, ys, yt)
        if ckpt is not None:
            _check_signature(ckpt, signature, ckpt_path)
            start_epoch, iteration = int(ckpt["epoch"]), int(ckpt["iteration"])
            for epoch in range(start_epoch):  # rebuild the optimizer's group layout first
                if finetune is not None:
                    finetune.on_epoch_start(network, epoch, optimizer)
            network.load_state_dict(ckpt["network"])
            if alignment is not None:
                alignment.load_state_dict(ckpt["alignment"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scaler is not None and ckpt["scaler"] is not None:
                scaler.load_state_dict(ckpt["scaler"])
            history = {k: list(v) for k, v in ckpt["history"].items()}
            best = ckpt["best"]
        report["resumed_from_epoch"] = start_epoch if ckpt is not None else None

        objective = _Objective(network, alignment, self.amp_dtype_, world, self.compile)
        show = bool(self.verbose) and bool(get_config()["progress"]) and rank == 0
        start = time.perf_counter()
        with tqdm(total=total, initial=start_epoch * n_iter, disable=not show,
                  desc=type(self).__name__, unit="it", dynamic_ncols=True) as bar:
            for epoch in range(start_epoch, self.epochs):
                if finetune is not None:
                    finetune.on_epoch_start(network, epoch, optimizer)
                step = objective
                if world > 1:  # wrapped anew each epoch: the strategy may have (un)frozen parameters
                    step = nn.parallel.DistributedDataParallel(
                        objective, device_ids=[device.index] if device.type == "cuda" else None
                    )
                means, lr_now = self._run_epoch(
                    step, network, alignment, finetune, optimizer, scaler, train_src, target,
                    ys_train, epoch, iteration, total, n_iter, (b_s, b_t), seed, rank, world, bar,
                )
                iteration += n_iter
                if world > 1:  # BatchNorm statistics were updated per process: take rank 0's
                    for module in (network, alignment):
                        for buffer in module.buffers() if module is not None else ():
                            dist.broadcast(buffer, 0)
                for name, value in means.items():
                    history.setdefault(name, []).append(value)
                history.setdefault("lr", []).append(lr_now)
                score = self._selection_score(network, source, target, val_rows, ys, yt, infer)
                if score is not None:
                    key = ("source_val_accuracy" if self.selection == "source-val"
                           else "oracle_target_accuracy")
                    history.setdefault(key, []).append(score)
                    if best is None or score > best["score"]:
                        best = {"epoch": epoch, "score": score, "network": _state_copy(network)}
                if ckpt_path is not None:
                    if rank == 0:
                        _write_checkpoint(ckpt_path, {
                            "format": _FORMAT,
                            "signature": signature,
                            "seed": seed,
                            "epoch": epoch + 1,
                            "iteration": iteration,
                            "network": network.state_dict(),
                            "alignment": None if alignment is None else alignment.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "scaler": None if scaler is None else scaler.state_dict(),
                            "history": history,
                            "best": best,
                        })
                    if world > 1:
                        dist.barrier()
        _sync(device)
        report["fit_time_s"] = time.perf_counter() - start
        if best is not None:
            network.load_state_dict(best["network"])
            report["selection"] = {"protocol": self.selection, "epoch": best["epoch"] + 1,
                                   "score": best["score"]}
        else:
            report["selection"] = {"protocol": self.selection, "epoch": int(self.epochs), "score": None}
        if self.selection == "oracle-target":
            report["oracle-target"] = (
                "target labels chose the epoch: an oracle upper bound, not an unsupervised result"
            )
        network.eval()
        if alignment is not None:
            alignment.eval()
        self.network_, self.alignment_, self.finetune_ = network, alignment, finetune
        self.history_ = history
        self.n_features_in_ = n_features
        if measure:
            report["discrepancy_after"] = self._discrepancy(network, source, target, report_rows, infer)
        start = time.perf_counter()
        if self.estimator is not None:
            Zs, _ = infer(network, source)
            Zt, _ = infer(network, target)
            self._fit_estimator(Zs, y_np, Zt, yt_np)
        else:
            self.estimator_ = None
        report["estimator_fit_time_s"] = time.perf_counter() - start
        self.report_ = report

    def _run_epoch(
        self,
        step: nn.Module,
        network: nn.Module,
        alignment: nn.Module | None,
        finetune: Any,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
        source: "_Data",
        target: "_Data",
        ys: torch.Tensor,
        epoch: int,
        iteration: int,
        total: int,
        n_iter: int,
        batch: tuple[int, int],
        seed: int,
        rank: int,
        world: int,
        bar: tqdm,
    ) -> tuple[dict[str, float], float]:
        """One pass: ``n_iter`` steps; returns the mean of every term and the last rate."""
        device = ys.device
        _seed_torch(_derive(seed, "dropout", epoch, rank), device)
        rows = []
        for stream, (data, b) in enumerate(((source, batch[0]), (target, batch[1]))):
            gen = torch.Generator().manual_seed(_derive(seed, "rows", epoch, stream))
            share = b // world
            rows.append(_epoch_rows(len(data), b, n_iter, gen)[:, rank * share:(rank + 1) * share])
        dtype = _param_dtype(network)
        worker_seed = _derive(seed, "workers", epoch, rank)
        xs_iter, xt_iter = (
            data.batches(r, device, dtype, self.channels_last_, self.num_workers, worker_seed + k)
            for k, (data, r) in enumerate(((source, rows[0]), (target, rows[1])))
        )
        rows_s = rows[0].to(device)
        network.train()
        if alignment is not None:
            alignment.train()
        if finetune is not None:
            finetune.train_mode(network)
        sums: dict[str, torch.Tensor] = {}
        refresh = max(1, n_iter // 10)
        lr_now = optimizer.param_groups[0]["lr"]
        for i, (x_s, x_t) in enumerate(zip(xs_iter, xt_iter)):
            progress = (iteration + i) / total
            factor = annealed_lr(1.0, progress)
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * factor
            lr_now = optimizer.param_groups[0]["lr"]
            y_s = ys[rows_s[i]]
            optimizer.zero_grad(set_to_none=True)
            ce, align, f_s, f_t, logits_s, logits_t = step(x_s, x_t, y_s, progress)
            terms = {"ce": ce}
            loss = ce
            if align is not None:
                terms["alignment"] = align
                loss = loss + float(self.trade_off) * align
            if finetune is not None:
                terms["penalty"] = finetune.penalty(network)
                loss = loss + terms["penalty"]
            extra = self._extra_losses(x_s, x_t, f_s, f_t, logits_s, logits_t, y_s, progress)
            for name, value in extra.items():
                if name in _BUILTIN_TERMS:
                    raise ValueError(f"_extra_losses returned the reserved term name {name!r}")
                terms[name] = value
                loss = loss + value
            terms = {"loss": loss, **terms}
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            for name, value in terms.items():
                value = value.detach().float()
                sums[name] = sums[name] + value if name in sums else value
            bar.update(1)
            if not bar.disable and ((i + 1) % refresh == 0 or i + 1 == n_iter):
                means = {k: float(v) / (i + 1) for k, v in sums.items()}
                bar.set_postfix(epoch=f"{epoch + 1}/{self.epochs}",
                                **{k: f"{v:.4f}" for k, v in means.items()})
        names = list(sums)
        totals = torch.stack([sums[k] for k in names])
        if world > 1:
            dist.all_reduce(totals)
            totals = totals / world
        return dict(zip(names, (totals / n_iter).tolist())), float(lr_now)

    # ------------------------------------------------------------------ pieces of fit
    def _check_params(self) -> None:
        if not isinstance(self.network, nn.Module) and not (
            isinstance(self.network, str) and self.network == "mlp"
        ):
            raise TypeError(f"network must be 'mlp' or a torch.nn.Module, got {self.network!r}")
        if isinstance(self.network, nn.Module) and not isinstance(
            getattr(self.network, "feature_dim", None), Integral
        ):
            raise TypeError("network must have an int attribute feature_dim (the size of its features)")
        if self.alignment is not None and not isinstance(self.alignment, AlignmentLoss):
            raise TypeError(
                "alignment must be a domadapt.deep.AlignmentLoss or None, got "
                f"{type(self.alignment).__name__}"
            )
        if self.finetune is not None:
            missing = [h for h in ("setup", "param_groups", "on_epoch_start", "penalty", "train_mode")
                       if not callable(getattr(self.finetune, h, None))]
            if missing:
                raise TypeError(f"finetune lacks the hooks {missing}; pass a domadapt.model.FineTuning")
        _check_real(self.trade_off, "trade_off", low=0.0)
        _check_real(self.lr, "lr", low=0.0, strict=True)
        _check_real(self.weight_decay, "weight_decay", low=0.0)
        _check_real(self.dropout, "dropout", low=0.0)
        if self.dropout >= 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        _check_int(self.epochs, "epochs", 1)
        _check_int(self.batch_size, "batch_size", 1)
        _check_int(self.num_workers, "num_workers", 0)
        if self.bottleneck_dim is not None:
            _check_int(self.bottleneck_dim, "bottleneck_dim", 1)
        if isinstance(self.hidden, (str, bytes)) or not isinstance(self.hidden, (tuple, list)):
            raise TypeError(f"hidden must be a tuple of ints, got {self.hidden!r}")
        for width in self.hidden:
            _check_int(width, "hidden", 1)
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        for name in ("amp", "channels_last"):
            value = getattr(self, name)
            if not (isinstance(value, bool) or value == "auto"):
                raise ValueError(f"{name} must be 'auto', True or False, got {value!r}")
        if not isinstance(self.compile, (bool, str)):
            raise TypeError(f"compile must be a bool or a backend name, got {self.compile!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {list(SELECTIONS)}, got {self.selection!r}")
        _check_real(self.validation_fraction, "validation_fraction", low=0.0, strict=True)
        if self.validation_fraction >= 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        seed_from(0 if self.random_state is None else self.random_state)

    def _resolve_device(self, X: Any, X_target: Any, world: int) -> torch.device:
        arrays = [a for a in (X, X_target) if isinstance(a, torch.Tensor)]
        device = resolve_device(self.device, *arrays)
        if world > 1 and device.type == "cuda" and device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return device

    def _build_network(self, n_classes: int, device: torch.device) -> nn.Module:
        if isinstance(self.network, nn.Module):
            network = copy.deepcopy(self.network)
        else:
            if len(self.input_shape_) != 1:
                raise ValueError(
                    f"network='mlp' needs feature vectors, but the inputs have shape "
                    f"{self.input_shape_}; pass a Network (e.g. Network.from_backbone(...))"
                )
            network = Network.from_features(
                self.input_shape_[0], n_classes, tuple(self.hidden),
                bottleneck_dim=self.bottleneck_dim, dropout=float(self.dropout),
            )
        network.to(device)
        if self.channels_last_:
            network.to(memory_format=torch.channels_last)
        return network

    def _make_optimizer(
        self, network: nn.Module, alignment: nn.Module | None, finetune: Any
    ) -> torch.optim.Optimizer:
        lr = float(self.lr)
        if finetune is not None:
            groups = finetune.param_groups(network, lr)
        else:
            params = [p for p in network.parameters() if p.requires_grad]
            groups = [{"params": params, "lr": lr, "initial_lr": lr, "name": "network"}] if params else []
        if alignment is not None:
            params = [p for p in alignment.parameters() if p.requires_grad]
            if params:
                groups.append({"params": params, "lr": lr, "initial_lr": lr, "name": "alignment"})
        if not groups:
            raise ValueError(
                "nothing to train: the network and the alignment loss have no trainable parameter"
            )
        wd = float(self.weight_decay)
        if self.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
        return torch.optim.Adam(groups, lr=lr, weight_decay=wd)

    def _eval_batch_size(self) -> int:
        return 4 * int(self.batch_size)

    def _discrepancy(
        self, network: nn.Module, source: "_Data", target: "_Data",
        rows: tuple[np.ndarray, np.ndarray], infer: "_Inference",
    ) -> dict[str, float]:
        Fs, _ = infer(network, source.subset(rows[0]))
        Ft, _ = infer(network, target.subset(rows[1]))
        return _measure(Fs, Ft, self._report_seed())

    def _selection_score(
        self, network: nn.Module, source: "_Data", target: "_Data", val_rows: np.ndarray | None,
        ys: torch.Tensor, yt: torch.Tensor | None, infer: "_Inference",
    ) -> float | None:
        if self.selection == "source-val":
            assert val_rows is not None
            _, logits = infer(network, source.subset(val_rows))
            labels = ys[torch.as_tensor(val_rows, device=ys.device)]
        elif self.selection == "oracle-target":
            assert yt is not None
            _, logits = infer(network, target)
            labels = yt
        else:
            return None
        return float((logits.argmax(1) == labels).double().mean())

    def _signature(
        self, source: "_Data", target: "_Data", shape: tuple[int, ...], ys: torch.Tensor,
        yt: torch.Tensor | None = None,
    ) -> dict[str, str]:
        sig = {k: _digest(v) for k, v in self.get_params(deep=False).items() if k not in _RUN_ONLY}
        sig["data"] = repr((len(source), len(target), tuple(shape), [str(c) for c in self.classes_]))
        if source.tensor is not None and target.tensor is not None:
            # array inputs: their values too, so other data of the same size cannot resume
            # (a Dataset is known by its size only: reading it all would cost an epoch)
            # (the known target labels too: oracle-target selection and the estimator read them)
            sig["values"] = _digest((source.tensor, target.tensor, ys, yt))
        sig["class"] = type(self).__qualname__
        return sig

    # ------------------------------------------------------------------ using the network
    def _transform(self, X: torch.Tensor, domain: str) -> torch.Tensor:
        features, _ = self._infer_fitted(_Data(tensor=X))
        return features.to(device=X.device, dtype=X.dtype)

    def _infer_fitted(self, data: "_Data") -> tuple[torch.Tensor, torch.Tensor]:
        network = self.network_
        infer = _Inference(self._eval_batch_size(), self.device_, _param_dtype(network), self.amp_dtype_,
                           self.channels_last_, self.num_workers)
        network.eval()
        return infer(network, data)

    def _input(self, X: Any) -> tuple["_Data", Any]:
        """Check ``X`` (array, tensor or Dataset) and wrap it; the origin tells the output type."""
        self._check_fitted()
        if isinstance(X, Dataset):
            return _Data(dataset=X), None
        if len(self.input_shape_) != 1:
            raise ValueError(
                f"X: this {type(self).__name__} was fitted on inputs of shape {self.input_shape_}; "
                "pass a torch Dataset of such items"
            )
        X = check_array(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features but the adapter was fitted with {self.n_features_in_}"
            )
        origin = origin_of(X)
        return _Data(tensor=to_tensor(X, origin.device, origin.dtype)), origin

    def transform(self, X: ArrayLike | Dataset, domain: str = "target") -> ArrayLike:
        """Bottleneck features of ``X`` (array, tensor or Dataset) under the trained network.

        The network is shared by both domains, so ``domain`` only is checked. A ``Dataset``
        gives a float32 numpy array.
        """
        check_domain(domain)
        data, origin = self._input(X)
        if origin is not None:
            return super().transform(X, domain)
        return to_numpy(self._infer_fitted(data)[0])

    def _logits(self, X: Any) -> tuple[torch.Tensor, Any]:
        data, origin = self._input(X)
        return self._infer_fitted(data)[1], origin

    def predict(self, X: ArrayLike | Dataset, domain: str = "target") -> ArrayLike:
        """Class labels of ``X``: argmax of the network's head (or the ``estimator``'s)."""
        check_domain(domain)
        self._check_fitted()
        if self.estimator_ is not None:
            return super().predict(X, domain)
        logits, _ = self._logits(X)
        return _labels_like(self.classes_[to_numpy(logits.argmax(1))], X)

    def predict_proba(self, X: ArrayLike | Dataset, domain: str = "target") -> ArrayLike:
        """Class probabilities of ``X``: softmax of the head's logits (or the ``estimator``'s)."""
        check_domain(domain)
        self._check_fitted()
        if self.estimator_ is not None:
            return super().predict_proba(X, domain)
        logits, origin = self._logits(X)
        proba = torch.softmax(logits, dim=1)
        return to_numpy(proba) if origin is None else to_output(proba, origin)

    def score(self, X: ArrayLike | Dataset, y: ArrayLike | None = None, domain: str = "target") -> float:
        """Accuracy of :meth:`predict` on ``X`` against ``y`` (read from ``X`` when a Dataset);
        rows labelled ``-1`` (unknown, as in ``fit``'s ``y_target``) are left out, unless ``-1``
        is one of the fitted classes."""
        pred = to_numpy(self.predict(X, domain))
        if y is None and isinstance(X, Dataset):
            y = _dataset_labels(X)
        y = check_labels(y, pred.shape[0], "y", allow_unknown=True)
        known = known_rows(y, self.classes_)
        return float(np.mean(pred[known] == y[known]))


# ------------------------------------------------------------------------------ the objective
class _Objective(nn.Module):
    """The part of a step that DistributedDataParallel wraps: forward pass, CE and alignment.

    The network sees the source and target batches in one pass (under autocast when AMP is on);
    features and logits go back to float32. Under several processes the alignment loss gets the
    features, logits and labels of the whole global batch (gathered with gradients), so its
    value is that of the single-process run.
    """

    def __init__(
        self, network: nn.Module, alignment: nn.Module | None, amp_dtype: torch.dtype | None,
        world: int, compile_with: bool | str,
    ):
        super().__init__()
        self.network = network
        self.alignment = alignment
        self.amp_dtype = amp_dtype
        self.world = world
        if compile_with is False:
            self._forward = (network,)
        else:
            backend = "inductor" if compile_with is True else compile_with
            self._forward = (torch.compile(network, backend=backend),)  # a tuple: not a submodule

    def forward(
        self, x_s: torch.Tensor, x_t: torch.Tensor, y_s: torch.Tensor, progress: float
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        n_s = x_s.shape[0]
        x = torch.cat([x_s, x_t])
        with torch.autocast(x.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            features, logits = self._forward[0](x)
        features, logits = features.float(), logits.float()
        f_s, f_t, logits_s, logits_t = features[:n_s], features[n_s:], logits[:n_s], logits[n_s:]
        ce = F.cross_entropy(logits_s, y_s)
        align = None
        if self.alignment is not None:
            gather = _gather_rows if self.world > 1 else _identity
            align = self.alignment(
                gather(f_s), gather(f_t), logits_s=gather(logits_s), logits_t=gather(logits_t),
                y_s=gather(y_s), progress=progress,
            )
        return ce, align, f_s, f_t, logits_s, logits_t


class _GatherRows(torch.autograd.Function):
    """All-gather the rows of every process, with the gradient of this process's rows back."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.world = dist.get_rank(), dist.get_world_size()
        parts = [torch.empty_like(x) for _ in range(ctx.world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        # every process computed the same loss on the gathered rows: the gradient of a row is
        # the sum over processes; DistributedDataParallel then divides by their number
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad.chunk(ctx.world)[ctx.rank]


def _gather_rows(x: torch.Tensor) -> torch.Tensor:
    return _GatherRows.apply(x)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


# ------------------------------------------------------------------------------ data
def _input_of(item: Any) -> Any:
    """The input of a dataset item: ``x`` of ``(x, ...)``, or the item itself."""
    return item[0] if isinstance(item, (tuple, list)) else item


def _collate_inputs(items: list[Any]) -> torch.Tensor:
    return default_collate([_input_of(item) for item in items])


@dataclass
class _Data:
    """One domain's inputs: a tensor (rows on the training device) or a Dataset."""

    tensor: torch.Tensor | None = None
    dataset: Dataset | None = None

    def __len__(self) -> int:
        return self.tensor.shape[0] if self.tensor is not None else len(self.dataset)

    def to(self, device: torch.device) -> "_Data":
        if self.tensor is None:
            return self
        return _Data(tensor=self.tensor.to(device))

    def subset(self, rows: np.ndarray) -> "_Data":
        if self.tensor is not None:
            return _Data(tensor=self.tensor[torch.as_tensor(rows, device=self.tensor.device)])
        return _Data(dataset=Subset(self.dataset, rows.tolist()))

    def batches(
        self, rows: torch.Tensor, device: torch.device, dtype: torch.dtype, channels_last: bool,
        num_workers: int, seed: int,
    ) -> Iterator[torch.Tensor]:
        """The inputs of each row of ``rows`` (one batch of indices per row), on ``device``."""
        if self.tensor is not None:
            on_device = rows.to(self.tensor.device)
            for idx in on_device:
                yield _prepare(self.tensor[idx], device, dtype, channels_last)
            return
        loader = DataLoader(
            self.dataset, batch_sampler=rows.tolist(), collate_fn=_collate_inputs,
            num_workers=num_workers, pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(seed),
        )
        for x in loader:
            yield _prepare(x, device, dtype, channels_last)


def _prepare(x: Any, device: torch.device, dtype: torch.dtype, channels_last: bool) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"dataset items must hold tensors, got {type(x).__name__}")
    x = x.to(device=device, dtype=dtype, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


@dataclass
class _Inference:
    """Features and logits of a whole domain, in batches, without gradients."""

    batch_size: int
    device: torch.device
    dtype: torch.dtype
    amp_dtype: torch.dtype | None
    channels_last: bool
    num_workers: int

    def __call__(self, network: nn.Module, data: _Data) -> tuple[torch.Tensor, torch.Tensor]:
        was_training = network.training
        network.eval()
        if data.tensor is not None:
            chunks: Any = (
                _prepare(x, self.device, self.dtype, self.channels_last)
                for x in data.tensor.split(self.batch_size)
            )
        else:
            loader = DataLoader(data.dataset, batch_size=self.batch_size, collate_fn=_collate_inputs,
                                num_workers=self.num_workers, pin_memory=self.device.type == "cuda")
            chunks = (_prepare(x, self.device, self.dtype, self.channels_last) for x in loader)
        feats, logits = [], []
        with torch.no_grad(), torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                             enabled=self.amp_dtype is not None):
            for x in chunks:
                f, out = network(x)
                feats.append(f.float())
                logits.append(out.float())
        network.train(was_training)
        return torch.cat(feats), torch.cat(logits)


def _read_inputs(
    X: Any, y: Any, X_target: Any, y_target: Any
) -> tuple[_Data, _Data, np.ndarray, np.ndarray | None, tuple[int, ...]]:
    """Check the inputs of ``fit`` (arrays as every adapter, or Datasets) and wrap them."""
    if isinstance(X, Dataset) or isinstance(X_target, Dataset):
        if not (isinstance(X, Dataset) and isinstance(X_target, Dataset)):
            raise TypeError("X and X_target must both be torch Datasets, or both arrays/tensors")
        if y is not None:
            raise ValueError("y must be None when X is a Dataset: the labels come from its (x, y) items")
        for name, ds in (("X", X), ("X_target", X_target)):
            if len(ds) == 0:
                raise ValueError(f"{name} is empty: it has no rows (samples)")
        first = X[0]
        if not (isinstance(first, (tuple, list)) and len(first) >= 2):
            raise TypeError("X must be a Dataset of (x, y) pairs")
        x_s, x_t = _input_of(first), _input_of(X_target[0])
        for name, x in (("X", x_s), ("X_target", x_t)):
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{name} items must hold tensors, got {type(x).__name__}")
        if x_s.shape != x_t.shape:
            raise ValueError(
                f"X items have shape {tuple(x_s.shape)} but X_target items {tuple(x_t.shape)}; "
                "both domains must share one input space"
            )
        y_np = check_labels(_dataset_labels(X), len(X), "y")
        yt_np = None if y_target is None else check_labels(
            y_target, len(X_target), "y_target", allow_unknown=True
        )
        return _Data(dataset=X), _Data(dataset=X_target), y_np, yt_np, tuple(x_s.shape)
    check_same_device(X=X, y=y, X_target=X_target, y_target=y_target)
    X = check_array(X, "X")
    X_target = check_array(X_target, "X_target")
    check_same_features(X, X_target)
    y_np = check_labels(y, X.shape[0], "y")
    yt_np = None if y_target is None else check_labels(
        y_target, X_target.shape[0], "y_target", allow_unknown=True
    )
    dtype = torch.promote_types(origin_of(X).dtype, origin_of(X_target).dtype)
    Xs, Xt = to_tensor(X, None, dtype), to_tensor(X_target, None, dtype)
    return _Data(tensor=Xs), _Data(tensor=Xt), y_np, yt_np, (int(X.shape[1]),)


def _dataset_labels(ds: Dataset) -> np.ndarray:
    """Labels of a Dataset of (x, y): ``ds.targets`` when present (also through a ``Subset``),
    else read from the items."""
    if isinstance(ds, Subset) and getattr(ds.dataset, "targets", None) is not None:
        return _dataset_labels(ds.dataset)[np.asarray(ds.indices, dtype=np.int64)]
    targets = getattr(ds, "targets", None)
    if targets is not None:
        return to_numpy(targets) if isinstance(targets, torch.Tensor) else np.asarray(targets)
    labels = []
    for i in range(len(ds)):
        item = ds[i]
        if not (isinstance(item, (tuple, list)) and len(item) >= 2):
            raise TypeError("the dataset must yield (x, y) pairs to have labels")
        label = item[1]
        labels.append(label.item() if isinstance(label, torch.Tensor) else label)
    return np.asarray(labels)


def _epoch_rows(n: int, batch: int, n_iter: int, gen: torch.Generator) -> torch.Tensor:
    """``(n_iter, batch)`` row indices: consecutive fresh permutations of ``range(n)``."""
    need = n_iter * batch
    perms = [torch.randperm(n, generator=gen) for _ in range(-(-need // n))]
    return torch.cat(perms)[:need].view(n_iter, batch)


def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(y.shape[0])
    try:
        train, val = train_test_split(rows, test_size=fraction, stratify=y, random_state=seed % 2**32)
    except ValueError as exc:
        raise ValueError(
            f"selection='source-val' cannot hold out a stratified validation_fraction={fraction} "
            f"of the source: {exc}"
        ) from None
    return np.sort(train), np.sort(val)


def _report_rows(n: int, seed: int) -> np.ndarray:
    cap = int(get_config()["report_max_samples"])
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


# ------------------------------------------------------------------------------ helpers
def _check_network_output(network: nn.Module, source: _Data, n_classes: int, infer: _Inference) -> None:
    """One forward pass on two source rows: the network must give (features, logits) that fit."""
    rows = source.subset(np.arange(min(2, len(source))))
    try:
        features, logits = infer(network, rows)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"network must return (features, logits): {exc}") from None
    if logits.dim() != 2 or logits.shape[1] != n_classes:
        raise ValueError(f"network gives logits of shape {tuple(logits.shape)}; y has {n_classes} classes")
    if features.dim() != 2 or features.shape[1] != network.feature_dim:
        raise ValueError(
            f"network gives features of shape {tuple(features.shape)} but its feature_dim is "
            f"{network.feature_dim}"
        )


def _process_group_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, int(os.environ.get("WORLD_SIZE", "1"))


def _init_process_group(device: torch.device, rank: int, world: int) -> tuple[int, int]:
    """Join the process group of ``torchrun`` (NCCL on CUDA, Gloo on the CPU) if needed."""
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return rank, world


def _amp_dtype(amp: str | bool, device: torch.device) -> torch.dtype | None:
    on = device.type == "cuda" if amp == "auto" else bool(amp)
    if not on:
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def _param_dtype(network: nn.Module) -> torch.dtype:
    for p in network.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _derive(seed: int, *keys: str | int) -> int:
    """A 63-bit seed from ``seed`` and ``keys`` (independent streams per purpose/epoch/rank)."""
    words = [seed % 2**64] + [int.from_bytes(k.encode(), "little") if isinstance(k, str) else k for k in keys]
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def _seed_torch(seed: int, device: torch.device) -> None:
    """Seed torch's CPU generator, and that of ``device`` when it is a GPU (and no other)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


def _state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _digest(value: Any) -> str:
    """A fingerprint of a parameter value that is the same in every process.

    Plain values by ``repr``; a module by its class, its printed structure, its plain
    attributes (the hyper-parameters a loss keeps, such as a DANN loss's ``alpha`` or CDAN's
    ``entropy_conditioning``, which neither the printout nor an unbuilt ``state_dict`` shows)
    and the bytes of its ``state_dict``; an estimator (a teacher ``DeepAdapter``, say) by its class, its parameters
    and, once fitted, its network; anything else by the hash of its pickle. A module's pickle
    cannot serve: it differs between two processes holding the same weights.
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return repr(value)
    h = hashlib.sha256(type(value).__qualname__.encode())
    if isinstance(value, torch.Tensor):
        _hash_tensor(h, "", value)
    elif isinstance(value, (tuple, list)):
        for item in value:
            h.update(_digest(item).encode())
    elif isinstance(value, nn.Module):
        h.update(str(value).encode())
        for name, attr in sorted(vars(value).items()):
            if not name.startswith("_") and name != "training" and (
                attr is None or isinstance(attr, (str, bool, int, float, tuple))
            ):
                h.update(f"{name}={_digest(attr)};".encode())
        for name, tensor in value.state_dict().items():
            _hash_tensor(h, name, tensor)
    elif isinstance(value, BaseEstimator):
        for key, param in sorted(value.get_params(deep=False).items()):
            h.update(f"{key}={_digest(param)};".encode())
        fitted = getattr(value, "network_", None)
        if fitted is not None:
            h.update(_digest(fitted).encode())
    else:
        h.update(pickle.dumps(value))
    return "sha256:" + h.hexdigest()


def _hash_tensor(h: Any, name: str, tensor: torch.Tensor) -> None:
    """Feed ``name``, the dtype, the shape and the bytes of ``tensor`` to the hash ``h``."""
    t = tensor.detach().cpu().contiguous()
    h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())


def _read_checkpoint(path: Path | None, device: torch.device) -> dict[str, Any] | None:
    if path is None or not path.exists():
        return None
    ckpt = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a DeepAdapter checkpoint of format {_FORMAT}")
    return ckpt


def _check_signature(ckpt: dict[str, Any], signature: dict[str, str], path: Path | None) -> None:
    saved = ckpt["signature"]
    differ = sorted(k for k in set(saved) | set(signature) if saved.get(k) != signature.get(k))
    if differ:
        raise ValueError(
            f"the checkpoint {path} was written by a run with other {', '.join(differ)}; "
            "resume with the same parameters and data, or use another checkpoint_dir"
        )


def _write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _check_real(value: Any, name: str, *, low: float, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value}")


def _check_int(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
