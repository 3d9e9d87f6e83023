"""The ledger refuses UPDATE and DELETE in the database itself, whoever asks.

The model's save()/delete() already refuse; these triggers also stop queryset updates, raw SQL and
the admin. (TRUNCATE, used by test teardown, fires no row trigger.)
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION credits_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'credits_ledgerentry is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER credits_ledger_append_only
    BEFORE UPDATE OR DELETE ON credits_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION credits_ledger_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS credits_ledger_append_only ON credits_ledgerentry;
DROP FUNCTION IF EXISTS credits_ledger_append_only();
"""
SQLITE_UP = [
    """CREATE TRIGGER credits_ledger_no_update BEFORE UPDATE ON credits_ledgerentry
       BEGIN SELECT RAISE(ABORT, 'credits_ledgerentry is append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER credits_ledger_no_delete BEFORE DELETE ON credits_ledgerentry
       BEGIN SELECT RAISE(ABORT, 'credits_ledgerentry is append-only: DELETE refused'); END;""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS credits_ledger_no_update;", "DROP TRIGGER IF EXISTS credits_ledger_no_delete;"]


def up(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = [POSTGRES_UP] if vendor == "postgresql" else SQLITE_UP if vendor == "sqlite" else []
    for statement in statements:
        schema_editor.execute(statement, params=None)


def down(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = [POSTGRES_DOWN] if vendor == "postgresql" else SQLITE_DOWN if vendor == "sqlite" else []
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("credits", "0002_purchases_limits_adjustments")]

    operations = [migrations.RunPython(up, down)]
