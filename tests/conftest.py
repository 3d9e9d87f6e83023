import pytest

from apps.catalog.services import catalog_load
from tests.accounts.factories import UserFactory


@pytest.fixture
def catalog(db):
    """The real catalogue file, loaded as `make run` loads it."""
    catalog_load()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()
