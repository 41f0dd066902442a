"""Relation-based transfer: a student keeps a teacher's sample-to-sample relations."""

from .distillation import RelationalDistillation
from .losses import LogitDistillationLoss, RKDAngleLoss, RKDDistanceLoss

__all__ = ["LogitDistillationLoss", "RKDAngleLoss", "RKDDistanceLoss", "RelationalDistillation"]
