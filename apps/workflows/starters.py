"""Load the shipped starter workflows (starters.toml) into the database, like the catalogue."""

import tomllib
from pathlib import Path

from django.conf import settings
from django.db import transaction

from .engine.registry import node_type_get
from .models import StarterWorkflow

FILE_FIELDS = ("name", "description", "graph", "sort_order")


class StarterFileError(ValueError):
    pass


def _row(entry: dict) -> dict:
    graph = {"nodes": entry.get("nodes", []), "edges": entry.get("edges", [])}
    for node in graph["nodes"]:
        # Full validation needs the catalogue (model choices), so it happens when a starter is
        # copied; here only what the file alone can get wrong.
        if node_type_get(node.get("type", "")) is None:
            raise StarterFileError(f"starter {entry.get('key')!r}: unknown node type {node.get('type')!r}")
    return {
        "name": entry["name"], "description": entry.get("description", ""), "graph": graph,
        "sort_order": entry.get("sort_order", 100),
    }


def starters_load(*, path: Path | None = None, using: str = "default") -> tuple[int, int]:
    """Upsert the starters file. Returns (created, updated)."""
    data = tomllib.loads((path or settings.WORKFLOW_STARTERS_FILE).read_text())
    created = updated = 0
    with transaction.atomic(using=using):
        for entry in data.get("workflows", []):
            row = _row(entry)
            starter = StarterWorkflow.objects.using(using).filter(key=entry["key"]).first()
            if starter is None:
                StarterWorkflow.objects.using(using).create(key=entry["key"], **row)
                created += 1
            elif any(getattr(starter, name) != row[name] for name in FILE_FIELDS):
                for name in FILE_FIELDS:
                    setattr(starter, name, row[name])
                starter.save(using=using, update_fields=[*FILE_FIELDS, "updated_at"])
                updated += 1
    return created, updated
