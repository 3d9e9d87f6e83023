"""Simulated replicate API (mounted under /replicate)."""

from ..http import Router


def register(router: Router) -> None:
    pass
