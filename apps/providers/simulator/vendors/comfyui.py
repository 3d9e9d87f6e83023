"""Simulated comfyui API (mounted under /comfyui)."""

from ..http import Router


def register(router: Router) -> None:
    pass
