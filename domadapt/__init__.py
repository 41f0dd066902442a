"""domadapt: domain adaptation behind one sklearn-style interface.

Every method is an :class:`Adapter`: ``fit(X, y, X_target)``, ``transform(X, domain=...)``,
``predict``/``score`` with an attached estimator, and a ``report_`` of the source–target
discrepancy before and after adaptation. Inputs may be numpy arrays or torch tensors, on the CPU
or CUDA; outputs come back in the same type.
"""

from ._config import config_context, get_config, set_config
from .base import Adapter, DAPipeline, make_da_pipeline
from .deep import DeepAdapter
from .feature import CORAL, JDA, TCA, OTMapping, SubspaceAlignment
from .instance import KLIEP, KMM, ULSIF, DiscriminativeWeighting, NearestNeighborWeighting, RuLSIF
from .model import FineTuning
from .relation import RelationalDistillation

__version__ = "0.1.0"

__all__ = [
    "Adapter",
    "CORAL",
    "DAPipeline",
    "DeepAdapter",
    "DiscriminativeWeighting",
    "FineTuning",
    "JDA",
    "KLIEP",
    "KMM",
    "NearestNeighborWeighting",
    "OTMapping",
    "RelationalDistillation",
    "RuLSIF",
    "SubspaceAlignment",
    "TCA",
    "ULSIF",
    "make_da_pipeline",
    "config_context",
    "get_config",
    "set_config",
    "__version__",
]
