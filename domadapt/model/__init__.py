"""Model-based transfer: fine-tuning strategies for a pretrained backbone."""

from .finetune import STRATEGIES, FineTuning

__all__ = ["FineTuning", "STRATEGIES"]
