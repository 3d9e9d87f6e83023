"""Simulated openai API (mounted under /openai)."""

from ..http import Router


def register(router: Router) -> None:
    pass
