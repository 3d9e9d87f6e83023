from .adapter import OpenAIImagesAdapter

__all__ = ["OpenAIImagesAdapter"]
