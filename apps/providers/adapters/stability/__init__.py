from .adapter import StabilityAdapter

__all__ = ["StabilityAdapter"]
