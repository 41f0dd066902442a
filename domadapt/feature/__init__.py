"""Shallow feature-based adapters: maps of source and/or target features into a shared space."""

from .coral import CORAL
from .ot import OTMapping
from .subspace import SubspaceAlignment
from .tca import JDA, TCA

__all__ = ["CORAL", "JDA", "OTMapping", "SubspaceAlignment", "TCA"]
