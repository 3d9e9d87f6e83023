"""dj-stripe's schema comes from apps/credits/djstripe_migrations (one fast migration). It must stand
for every migration dj-stripe ships, or an upgrade would silently skip schema changes."""

import importlib
from pathlib import Path

import djstripe
from django.conf import settings


def test_the_squashed_djstripe_migration_replaces_every_migration_djstripe_ships():
    shipped = sorted(
        path.stem for path in (Path(djstripe.__file__).parent / "migrations").glob("[0-9]*.py")
    )
    squashed = importlib.import_module(f"{settings.MIGRATION_MODULES['djstripe']}.0001_squashed_2_11").Migration
    assert sorted(name for app, name in squashed.replaces if app == "djstripe") == shipped, (
        "dj-stripe ships migrations the squashed one does not replace: regenerate "
        "apps/credits/djstripe_migrations (see its docstring)"
    )
