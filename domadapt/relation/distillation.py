"""RelationalDistillation: a student that keeps a source teacher's sample-to-sample relations.

The adapter is :class:`~domadapt.deep.DeepAdapter` with three more loss terms, added through its
``_extra_losses`` hook: the distance-wise and angle-wise relational losses of Park et al. (2019)
between the student's and a frozen teacher's embeddings of the source *and* the target batch,
and optionally the logit distillation of Hinton et al. (2015).
"""

from __future__ import annotations

import copy
import math
import os
from numbers import Real
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from .._array import ArrayLike
from ..deep.losses import AlignmentLoss
from ..deep.trainer import DeepAdapter
from .losses import LogitDistillationLoss, RKDAngleLoss, RKDDistanceLoss

__all__ = ["RelationalDistillation"]

# parameters of DeepAdapter that a teacher fitted on the source inherits from the student's
_TEACHER_DROPS = ("alignment", "trade_off", "checkpoint_dir", "estimator")


class RelationalDistillation(DeepAdapter):
    """Relational knowledge distillation from a source teacher, on source and target batches.

    A *teacher* trained on the source is kept frozen (eval mode, no gradients). The *student* —
    this adapter's own ``network`` — is trained by the :class:`~domadapt.deep.DeepAdapter` loop
    on the source labels while it keeps the teacher's structure of the data: per step ::

        loss = CE(logits_s, y_s) [+ trade_off · alignment(...) + finetune.penalty(...)]
               + distance_weight · ½ (RKD-D(f_s, t_s) + RKD-D(f_t, t_t))
               + angle_weight    · ½ (RKD-A(f_s, t_s) + RKD-A(f_t, t_t))
               + kd_weight       · KD_T([z_s; z_t], [u_s; u_t])

    where ``f`` are the student's bottleneck features and ``z`` its logits, ``t`` and ``u`` the
    teacher's (detached) features and logits of the same rows, ``s``/``t`` subscripts the source
    and the target batch. RKD-D compares pairwise distances normalised by their mean, RKD-A the
    cosines of the angles in every triplet of rows (:class:`RKDDistanceLoss`,
    :class:`RKDAngleLoss`): both are invariant to the scale of either embedding, so the student
    may have another width than the teacher. Each relation term is the mean of its value on the
    source batch and on the target batch (relations *within* each domain; the teacher's
    source-to-target distances, which carry the domain gap, are not copied). KD is the
    temperature-softened KL divergence of Hinton et al. (:class:`LogitDistillationLoss`), on the
    rows of both batches; it needs the teacher's logits to have the student's classes.

    The terms appear, weighted, as ``rkd_distance``, ``rkd_angle`` and ``kd`` in the progress
    bar and in ``history_`` (a term with weight 0 is not computed).

    Teacher
    -------
    ``teacher`` may be

    * ``None`` (default): a source-only :class:`~domadapt.deep.DeepAdapter` with the student's
      own settings (same ``network``, ``finetune``, ``epochs``, ``lr``, ``random_state``, ...;
      no alignment, no estimator) is fitted on the same data first — self-distillation of the
      source model into a student that also sees the target; with ``checkpoint_dir`` it
      checkpoints in ``checkpoint_dir/teacher``;
    * a fitted ``DeepAdapter``: its ``network_`` is used;
    * an unfitted ``DeepAdapter``: it is cloned and fitted on the source labels first (the data
      passed to ``fit``, target included, as for any DeepAdapter);
    * an ``nn.Module`` (e.g. a :class:`~domadapt.deep.Network`) mapping the student's inputs to
      ``(features, logits)``.

    The teacher is deep-copied at ``fit`` (``teacher_``); the object passed is never changed.
    Note that ``sklearn.base.clone`` (grid search, ``make_da_pipeline``) clones a
    ``DeepAdapter`` teacher *unfitted* — it is then re-fitted on the source in ``fit`` — while a
    module teacher is deep-copied with its weights: pass ``teacher=fitted.network_`` to keep a
    trained teacher through cloning. The teacher runs under the student's mixed-precision
    setting and on the student's device.

    Parameters
    ----------
    network : "mlp" or torch.nn.Module, default="mlp"
        The student (see :class:`~domadapt.deep.DeepAdapter`).
    teacher : DeepAdapter, torch.nn.Module or None, default=None
        See above.
    distance_weight : float, default=1.0
        Weight of the distance-wise term (Park et al. use 1 for metric learning).
    angle_weight : float, default=2.0
        Weight of the angle-wise term (Park et al. use 2 for metric learning).
    kd_weight : float, default=0.0
        Weight of the logit distillation term; 0 switches it off.
    temperature : float, default=4.0
        Temperature of the logit distillation.
    alignment, trade_off, finetune, hidden, bottleneck_dim, dropout, epochs, batch_size, \
optimizer, lr, weight_decay, amp, channels_last, compile, checkpoint_dir, selection, \
validation_fraction, num_workers, random_state, device, verbose, estimator
        As for :class:`~domadapt.deep.DeepAdapter`. Every batch holds at least 3 rows per domain
        (the angle term needs triplets).

    Attributes
    ----------
    teacher_ : torch.nn.Module
        The frozen teacher used in training (eval mode, ``requires_grad=False``).
    network_, alignment_, finetune_, history_, report_, classes_, ...
        As for :class:`~domadapt.deep.DeepAdapter`.

    Examples
    --------
    >>> from domadapt import RelationalDistillation
    >>> student = RelationalDistillation(hidden=(16,), epochs=5, random_state=0, verbose=False)
    >>> # student.fit(X_source, y_source, X_target) first fits a source teacher, then the student

    References
    ----------
    W. Park, D. Kim, Y. Lu, M. Cho. Relational Knowledge Distillation. CVPR 2019.

    G. Hinton, O. Vinyals, J. Dean. Distilling the Knowledge in a Neural Network. NIPS 2014 Deep
    Learning Workshop (arXiv:1503.02531, 2015).
    """

    def __init__(
        self,
        network: str | nn.Module = "mlp",
        teacher: Any = None,
        *,
        distance_weight: float = 1.0,
        angle_weight: float = 2.0,
        kd_weight: float = 0.0,
        temperature: float = 4.0,
        alignment: AlignmentLoss | None = None,
        trade_off: float = 1.0,
        finetune: Any = None,
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
        super().__init__(
            network, alignment, trade_off, finetune, hidden=hidden, bottleneck_dim=bottleneck_dim,
            dropout=dropout, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
            weight_decay=weight_decay, amp=amp, channels_last=channels_last, compile=compile,
            checkpoint_dir=checkpoint_dir, selection=selection,
            validation_fraction=validation_fraction, num_workers=num_workers,
            random_state=random_state, device=device, verbose=verbose, estimator=estimator,
        )
        self.teacher = teacher
        self.distance_weight = distance_weight
        self.angle_weight = angle_weight
        self.kd_weight = kd_weight
        self.temperature = temperature

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: ArrayLike | Dataset,
        y: ArrayLike | None = None,
        X_target: ArrayLike | Dataset | None = None,
        y_target: ArrayLike | None = None,
    ) -> "RelationalDistillation":
        """Get the teacher (fitting it on the source when needed), then train the student.

        Parameters are those of :meth:`DeepAdapter.fit <domadapt.deep.DeepAdapter.fit>`.

        Returns
        -------
        self : RelationalDistillation
        """
        self._check_params()
        self.__dict__.pop("teacher_", None)
        teacher = self._teacher_module(X, y, X_target, y_target)
        teacher = copy.deepcopy(teacher)
        teacher.eval()
        teacher.requires_grad_(False)
        self.teacher_ = teacher
        self._relation_losses = (
            RKDDistanceLoss(), RKDAngleLoss(), LogitDistillationLoss(float(self.temperature))
        )
        return super().fit(X, y, X_target, y_target)

    def _teacher_module(self, X: Any, y: Any, X_target: Any, y_target: Any) -> nn.Module:
        teacher = self.teacher
        if isinstance(teacher, DeepAdapter):
            if hasattr(teacher, "network_"):
                return teacher.network_
            fitted = copy.deepcopy(teacher).fit(X, y, X_target, y_target)
            return fitted.network_
        if isinstance(teacher, nn.Module):
            return teacher
        params = {
            k: getattr(self, k) for k in DeepAdapter._get_param_names() if k not in _TEACHER_DROPS
        }
        if self.checkpoint_dir is not None:
            params["checkpoint_dir"] = Path(self.checkpoint_dir) / "teacher"
        return DeepAdapter(**params).fit(X, y, X_target, y_target).network_

    def _build_network(self, n_classes: int, device: torch.device) -> nn.Module:
        network = super()._build_network(n_classes, device)
        self.teacher_.to(device)
        if self.channels_last_:
            self.teacher_.to(memory_format=torch.channels_last)
        return network

    # ------------------------------------------------------------------ the relation terms
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
        """The weighted RKD-D, RKD-A and KD terms of a step (see the class docstring)."""
        (tf_s, tl_s), (tf_t, tl_t) = self._teach(x_s), self._teach(x_t)
        distance, angle, kd = self._relation_losses
        terms: dict[str, torch.Tensor] = {}
        if self.distance_weight > 0:
            terms["rkd_distance"] = float(self.distance_weight) * 0.5 * (
                distance(f_s, tf_s) + distance(f_t, tf_t)
            )
        if self.angle_weight > 0:
            terms["rkd_angle"] = float(self.angle_weight) * 0.5 * (angle(f_s, tf_s) + angle(f_t, tf_t))
        if self.kd_weight > 0:
            student = torch.cat([logits_s, logits_t])
            teacher = torch.cat([tl_s, tl_t])
            if teacher.shape[1] != student.shape[1]:
                raise ValueError(
                    f"kd_weight > 0 needs teacher logits of the student's {student.shape[1]} "
                    f"classes; the teacher gives {teacher.shape[1]}"
                )
            terms["kd"] = float(self.kd_weight) * kd(student, teacher)
        return terms

    def _teach(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher's (features, logits) of ``x``: no gradient, float32, the student's AMP."""
        amp = self.amp_dtype_
        with torch.no_grad(), torch.autocast(x.device.type, dtype=amp or torch.float32,
                                             enabled=amp is not None):
            out = self.teacher_(x)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(
                f"teacher must return (features, logits); it returned {type(out).__name__}"
            )
        features, logits = out
        for name, value in (("features", features), ("logits", logits)):
            if not isinstance(value, torch.Tensor) or value.dim() != 2 or value.shape[0] != x.shape[0]:
                raise ValueError(
                    f"teacher {name} must be a 2-D tensor with one row per input "
                    f"({x.shape[0]}), got {getattr(value, 'shape', type(value).__name__)}"
                )
        return features.float(), logits.float()

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        super()._check_params()
        teacher = self.teacher
        if teacher is not None and not isinstance(teacher, (DeepAdapter, nn.Module)):
            raise TypeError(
                "teacher must be None, a DeepAdapter or a torch.nn.Module returning "
                f"(features, logits), got {type(teacher).__name__}"
            )
        for name in ("distance_weight", "angle_weight", "kd_weight"):
            _check_weight(getattr(self, name), name)
        _check_weight(self.temperature, "temperature")
        if self.temperature == 0:
            raise ValueError("temperature must be positive, got 0")
        # the relational terms need rows in a batch: pairs (distance), triplets (angle); say so
        # before the teacher trains, not after
        need = 3 if self.angle_weight > 0 else 2 if self.distance_weight > 0 else 1
        if isinstance(self.batch_size, int) and self.batch_size < need:
            raise ValueError(
                f"batch_size={self.batch_size} is too small for the relational terms: the "
                f"{'angle' if need == 3 else 'distance'} loss needs {need} rows per batch"
            )
        if not (self.distance_weight > 0 or self.angle_weight > 0 or self.kd_weight > 0):
            raise ValueError(
                "distance_weight, angle_weight and kd_weight are all 0: nothing to distil "
                "(use DeepAdapter for source-only training)"
            )


def _check_weight(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value}")
