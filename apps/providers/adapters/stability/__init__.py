"""Adapter package; see adapter.py."""
