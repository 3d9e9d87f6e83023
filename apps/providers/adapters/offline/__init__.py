from .adapter import OfflineEngineAdapter

__all__ = ["OfflineEngineAdapter"]
