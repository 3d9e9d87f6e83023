from .adapter import ComfyUIAdapter

__all__ = ["ComfyUIAdapter"]
