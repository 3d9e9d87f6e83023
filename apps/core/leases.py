"""Leases: PostgreSQL session advisory locks that say "someone is working on this object".

A process working on a job (a generation's run, poll or finish; a workflow node) holds the lease on
it. When the process dies (kill -9, out of memory, a lost connection) PostgreSQL drops the lock with
the session, so "active, but nobody holds its lease" means the job was abandoned, whatever its age.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import DatabaseError, connection

# Advisory-lock namespaces (first key of the two-key form), so leases never collide with other locks.
GENERATION_LEASE = 0x4452_0001
NODE_RUN_LEASE = 0x4452_0002
# An active job nobody holds the lease of, untouched this long, is re-driven. Short, because the
# lease — not the age — says whether anyone is working on it; this only skips jobs mid-hand-off.
STUCK_AFTER = timedelta(seconds=15)
def _key(namespace: int, object_id) -> tuple[int, int]:
    digest = hashlib.blake2b(str(object_id).encode(), digest_size=4).digest()
    return namespace, int.from_bytes(digest, "big") & 0x7FFF_FFFF


@contextmanager
def lease(object_id, *, namespace: int = GENERATION_LEASE) -> Iterator[bool]:
    """Hold the lease on `object_id` while the block runs; yields False if another session has it.
    Without PostgreSQL (embedded mode: one process) every lease is granted."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = _key(namespace, object_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            except DatabaseError:
                pass  # the connection is gone, and the lock went with it


def lease_abandoned(object_id, *, namespace: int = GENERATION_LEASE) -> bool:
    """True when no session but this one holds the lease: nobody else is working on the object.
    False while another does — and always without PostgreSQL, where it can't be told."""
    if connection.vendor != "postgresql":
        return False
    classid, objid = _key(namespace, object_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 2 AND pid <> pg_backend_pid())",
            [classid, objid],
        )
        return cursor.fetchone()[0]
