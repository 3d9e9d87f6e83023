"""Shared fixtures for the security tests: a world of objects owned by one person (A), and the
means to check that nobody else changed any of it."""

from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.test import Client

from apps.accounts.services import api_key_create
from apps.batches import services as batch_services
from apps.credits.models import CreditPackage, Purchase
from apps.generations.models import GenerationImage
from apps.hooks import services as hook_services
from apps.library.models import Collection, CollectionItem
from apps.workflows import services as workflow_services
from tests.accounts.factories import UserFactory
from tests.generations.factories import GenerationFactory
from tests.media.factories import UploadFactory

# Rows written by merely visiting (sessions) are not "changes" to anyone's data.
UNTRACKED_TABLES = {"django_session"}

GRAPH = {
    "nodes": [
        {"id": "photo", "type": "input_photo", "params": {}},
        {"id": "upscale", "type": "upscale", "params": {"factor": 2}},
    ],
    "edges": [{"from": "photo", "from_port": "image", "to": "upscale", "to_port": "image"}],
}


@dataclass
class World:
    owner: object
    stranger: object
    owner_key: str
    stranger_key: str
    params: dict = field(default_factory=dict)  # URL parameter name → A's object id
    secrets: list = field(default_factory=list)  # strings of A's that must never reach anyone else


def client_for(user=None, **kwargs) -> Client:
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def db_snapshot() -> dict[str, str]:
    """A digest of every row of every table (but sessions), to prove a request changed nothing —
    computed by PostgreSQL in one query."""
    from django.db import connection

    tables = sorted({m._meta.db_table for m in apps.get_models() if not m._meta.proxy} - UNTRACKED_TABLES)
    sql = " UNION ALL ".join(
        f"SELECT %s, md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {connection.ops.quote_name(n)} t"
        for n in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, tables)
        return dict(cursor.fetchall())


def db_changes(before: dict[str, str]) -> list[str]:
    after = db_snapshot()
    return sorted(table for table in after if after[table] != before.get(table))


@pytest.fixture
def world(db, catalog, settings) -> World:
    """One of every kind of object, owned by A; B is another signed-up user."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    owner, stranger = UserFactory(), UserFactory()
    generation = GenerationFactory(owner=owner, prompt="a-owned secret lighthouse prompt")
    upload = UploadFactory(owner=owner, width=96, height=72)
    image = GenerationImage.objects.create(
        generation=generation, index=0, file=f"generations/{owner.pk}/{generation.id}/0.png", thumbnail="t.webp",
        width=64, height=64, size_bytes=10, sha256="0" * 64)
    endpoint = hook_services.webhook_endpoint_create(user=owner, url="http://127.0.0.1:9/hook", events=["batch.finished"])
    delivery = hook_services.webhook_endpoint_send_test(user=owner, endpoint_id=endpoint.id)
    batch = batch_services.batch_create(user=owner, items=[{"model": "offline-sketch", "prompt": "a-owned batch"}],
                                        source="prompts")
    owner_key = api_key_create(user=owner, name="owner key")
    workflow = workflow_services.workflow_create(user=owner, name="A's workflow", graph=GRAPH)
    run = workflow_services.run_start(user=owner, workflow_id=workflow.pk, inputs={"photo": str(upload.pk)})
    package = CreditPackage.objects.create(name="Starter", credits=500, price_cents=500, currency="usd")
    purchase = Purchase.objects.create(user=owner, package=package, credits=500, amount_cents=500, currency="usd")
    # The library's item, star and collection routes: A's photo, in a collection of A's.
    collection = Collection.objects.create(owner=owner, name="A's board")
    CollectionItem.objects.create(collection=collection, upload=upload, position=1)
    params = {
        "kind": "photo", "item_id": upload.id, "collection_id": collection.id,
        "generation_id": generation.id, "upload_id": upload.id, "endpoint_id": endpoint.id,
        "delivery_id": delivery.pk, "batch_id": batch.id, "api_key_id": owner_key.api_key.pk,
        "workflow_id": workflow.pk, "run_id": run.pk, "node_id": "upscale", "number": 1,
        "purchase_id": purchase.pk, "operation": "crop", "package_id": package.pk, "image_id": image.pk,
    }
    secrets = [str(generation.id), str(upload.id), str(endpoint.id), endpoint.secret, str(batch.id),
               str(workflow.pk), str(run.pk), str(purchase.pk), owner.email, owner_key.secret, generation.prompt]
    return World(
        owner=owner, stranger=stranger, owner_key=owner_key.secret,
        stranger_key=api_key_create(user=stranger, name="stranger key").secret, params=params, secrets=secrets,
    )



# ---------------------------------------------------------------- figures for the README
# Each test adds what it tried; the run's totals are printed at the end and kept in
# var/security-report.json (the README's "Bad input and access control" figures).
TALLY: dict[str, int] = {}
SERVER_ERRORS: list[str] = []


def tally(kind: str, count: int = 1) -> None:
    TALLY[kind] = TALLY.get(kind, 0) + count


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TALLY:
        return
    import json
    from pathlib import Path

    from django.conf import settings

    report = {"counts": dict(sorted(TALLY.items())), "hostile_inputs": sum(v for k, v in TALLY.items()
                                                                           if k.startswith("hostile")),
              "exit_status": int(exitstatus)}
    path = Path(settings.VAR_DIR) / "security-report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    terminalreporter.write_sep("-", "security figures")
    for kind, count in report["counts"].items():
        terminalreporter.write_line(f"{kind:45} {count:>7}")
    terminalreporter.write_line(f"{'hostile inputs in all':45} {report['hostile_inputs']:>7}  (→ {path})")
