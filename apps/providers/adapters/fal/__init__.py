"""Adapter package; see adapter.py."""

from .adapter import FalQueueAdapter

__all__ = ["FalQueueAdapter"]
