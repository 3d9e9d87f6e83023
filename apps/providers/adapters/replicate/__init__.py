from .adapter import ReplicateAdapter

__all__ = ["ReplicateAdapter"]
