"""Simulated fal API (mounted under /fal)."""

from ..http import Router


def register(router: Router) -> None:
    pass
