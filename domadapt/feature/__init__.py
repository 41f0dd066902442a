"""Shallow feature-based adapters: maps of source and/or target features into a shared space."""

from .coral import CORAL

__all__ = ["CORAL"]
