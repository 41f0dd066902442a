"""Instance-based adapters: one importance weight per source row, passed on to the estimator."""

from ._base import WeightingAdapter
from .discriminative import DiscriminativeWeighting
from .kliep import KLIEP
from .kmm import KMM
from .nearest_neighbor import NearestNeighborWeighting
from .ulsif import ULSIF, RuLSIF

__all__ = ["WeightingAdapter", "DiscriminativeWeighting", "KLIEP", "KMM", "NearestNeighborWeighting", "RuLSIF", "ULSIF"]
