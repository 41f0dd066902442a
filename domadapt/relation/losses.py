"""Relation and logit distillation losses: a student keeps what a teacher knows about the batch.

Each loss is an :class:`torch.nn.Module` with ``forward(student, teacher) -> Tensor``: the
embeddings (or logits) of the same rows from the student and from the teacher, the teacher's
already detached by the caller. The relational losses compare *structures* — distances between
pairs and angles in triplets of rows — so the student's embedding may have another dimension and
another scale than the teacher's. Nothing is read back to the host inside ``forward``.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..kernels import sq_euclidean

__all__ = ["RKDDistanceLoss", "RKDAngleLoss", "LogitDistillationLoss"]


def _check_pair(owner: str, student: Any, teacher: Any, min_rows: int, same_width: bool) -> None:
    for name, x in (("student", student), ("teacher", teacher)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-dimensional (batch, dim), got shape "
                             f"{tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got {x.dtype}")
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(f"student has {student.shape[0]} rows but teacher has "
                         f"{teacher.shape[0]}; both must embed the same rows")
    if student.shape[0] < min_rows:
        raise ValueError(f"{owner} needs at least {min_rows} rows, got {student.shape[0]}")
    if same_width and student.shape[1] != teacher.shape[1]:
        raise ValueError(f"student has {student.shape[1]} columns but teacher has "
                         f"{teacher.shape[1]}")
    if student.device != teacher.device:
        raise ValueError(f"student is on {student.device} but teacher is on {teacher.device}")


def _check_delta(delta: Any) -> float:
    if isinstance(delta, bool) or not isinstance(delta, Real) or not 0 < delta < math.inf:
        raise ValueError(f"delta={delta!r} must be a positive number")
    return float(delta)


def _normalised_distances(X: Tensor) -> Tensor:
    """Pairwise Euclidean distances divided by their mean over the pairs ``i != j``.

    The diagonal is exactly 0 with a zero gradient (the squared distances are clamped at the
    smallest normal number before the square root).
    """
    n = X.shape[0]
    D = sq_euclidean(X, X).clamp_min(torch.finfo(X.dtype).tiny).sqrt()
    D = D.masked_fill(torch.eye(n, dtype=torch.bool, device=X.device), 0.0)
    mean = D.sum() / (n * (n - 1))
    return D / mean.clamp_min(torch.finfo(X.dtype).tiny)


def _angles(X: Tensor) -> Tensor:
    """``A[j, i, k] = <e_ji, e_jk>`` with ``e_ji = (x_i - x_j) / ||x_i - x_j||`` (0 when i = j).

    The cosine of the angle at vertex ``x_j`` of the triangle ``(x_i, x_j, x_k)``; ``O(N^2 d)``
    memory for the unit difference vectors and one batched product for the ``N^3`` cosines.
    """
    diff = X[None, :, :] - X[:, None, :]                       # diff[j, i] = x_i - x_j
    norm = (diff * diff).sum(dim=2, keepdim=True).clamp_min(torch.finfo(X.dtype).tiny).sqrt()
    unit = diff / norm
    return torch.bmm(unit, unit.transpose(1, 2))


class RKDDistanceLoss(nn.Module):
    r"""Distance-wise relational knowledge distillation.

    For the rows of a batch, the distance potential is
    :math:`\psi_D(t_i, t_j) = \|t_i - t_j\| / \mu` with :math:`\mu` the mean distance over the
    pairs :math:`i \ne j`; the loss is the Huber loss between the student's and the teacher's
    potentials, averaged over the pairs:

    .. math::
        \ell = \frac{1}{N(N-1)} \sum_{i \ne j} l_\delta\big(\psi_D(s_i, s_j),
        \psi_D(t_i, t_j)\big),\qquad
        l_\delta(a, b) = \begin{cases} \tfrac12 (a-b)^2 & |a-b| \le \delta \\
        \delta(|a-b| - \tfrac12\delta) & \text{otherwise.}\end{cases}

    The normalisation by :math:`\mu` makes the loss invariant to the scale of either embedding
    (``loss(c * s, t) == loss(s, t)`` for :math:`c > 0`) and 0 when the student is a scaled copy
    of the teacher; the two embeddings may have different dimensions.

    Parameters
    ----------
    delta : float, default=1.0
        Threshold :math:`\delta` of the Huber loss (the paper's smooth-L1 uses 1).

    References
    ----------
    Park, Kim, Lu, Cho. "Relational Knowledge Distillation". CVPR 2019.
    """

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = _check_delta(delta)

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        _check_pair(type(self).__name__, student, teacher, min_rows=2, same_width=False)
        n = student.shape[0]
        loss = F.huber_loss(_normalised_distances(student),
                            _normalised_distances(teacher.to(student.dtype)),
                            reduction="none", delta=self.delta)
        # the diagonal of both potentials is exactly 0, so it adds nothing to the sum
        return loss.sum() / (n * (n - 1))

    def extra_repr(self) -> str:
        return f"delta={self.delta}"


class RKDAngleLoss(nn.Module):
    r"""Angle-wise relational knowledge distillation.

    For each triplet of distinct rows the angle potential is the cosine of the angle at
    :math:`t_j`, :math:`\psi_A(t_i, t_j, t_k) = \langle e^{ij}, e^{kj}\rangle` with
    :math:`e^{ij} = (t_i - t_j) / \|t_i - t_j\|`; the loss is the Huber loss between the
    student's and the teacher's potentials, averaged over the :math:`N(N-1)(N-2)` ordered
    triplets of distinct rows:

    .. math::
        \ell = \frac{1}{N(N-1)(N-2)} \sum_{i, j, k \text{ distinct}}
        l_\delta\big(\psi_A(s_i, s_j, s_k), \psi_A(t_i, t_j, t_k)\big).

    All cosines are computed at once by one batched matrix product (``O(N^2 d)`` memory for the
    unit difference vectors, ``O(N^3)`` for the cosines). Angles do not change when an
    embedding is scaled or translated, so the loss is invariant to both.

    Parameters
    ----------
    delta : float, default=1.0
        Threshold of the Huber loss.

    References
    ----------
    Park, Kim, Lu, Cho. "Relational Knowledge Distillation". CVPR 2019.
    """

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = _check_delta(delta)

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        _check_pair(type(self).__name__, student, teacher, min_rows=3, same_width=False)
        n = student.shape[0]
        loss = F.huber_loss(_angles(student), _angles(teacher.to(student.dtype)),
                            reduction="none", delta=self.delta)
        eye = torch.eye(n, dtype=torch.bool, device=student.device)
        degenerate = eye[:, :, None] | eye[:, None, :] | eye[None, :, :]   # j=i, j=k or i=k
        return loss.masked_fill(degenerate, 0.0).sum() / (n * (n - 1) * (n - 2))

    def extra_repr(self) -> str:
        return f"delta={self.delta}"


class LogitDistillationLoss(nn.Module):
    r"""Knowledge distillation on softened logits.

    .. math::
        \ell = T^2\,\frac1N \sum_i \mathrm{KL}\big(\mathrm{softmax}(t_i / T)\,\big\|\,
        \mathrm{softmax}(s_i / T)\big),

    the cross-entropy to the teacher's soft targets up to the teacher's entropy (a constant).
    The factor :math:`T^2` keeps the gradient magnitude independent of the temperature.

    Parameters
    ----------
    temperature : float, default=4.0
        :math:`T > 0`; larger values soften both distributions.

    References
    ----------
    Hinton, Vinyals, Dean. "Distilling the Knowledge in a Neural Network". NIPS 2014 Deep
    Learning Workshop (arXiv:1503.02531, 2015).
    """

    def __init__(self, temperature: float = 4.0) -> None:
        super().__init__()
        if (isinstance(temperature, bool) or not isinstance(temperature, Real)
                or not 0 < temperature < math.inf):
            raise ValueError(f"temperature={temperature!r} must be a positive number")
        self.temperature = float(temperature)

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        _check_pair(type(self).__name__, student, teacher, min_rows=1, same_width=True)
        T = self.temperature
        log_p_s = F.log_softmax(student / T, dim=1)
        log_p_t = F.log_softmax(teacher.to(student.dtype) / T, dim=1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1).mean()
        return kl * (T * T)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
