"""A second database session holding a job's lease, as a live worker elsewhere would."""

from contextlib import contextmanager

import psycopg
from django.db import connection

from apps.core import leases


@contextmanager
def other_worker_holding(generation_id):
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
        password=settings["PASSWORD"] or None, dbname=settings["NAME"], autocommit=True,
    ) as other:
        key = leases._key(leases.GENERATION_LEASE, generation_id)
        other.execute("SELECT pg_advisory_lock(%s, %s)", key)
        yield
        other.execute("SELECT pg_advisory_unlock(%s, %s)", key)
