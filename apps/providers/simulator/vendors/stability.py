"""Simulated stability API (mounted under /stability)."""

from ..http import Router


def register(router: Router) -> None:
    pass
