import pytest


@pytest.fixture(autouse=True)
def _migration_data(db):
    """Role groups and tones, which data migrations create and a transactional test's flush removes."""
    from campaigns.tests.factories import ensure_tones
    from staff.tests.factories import ensure_roles

    ensure_roles()
    ensure_tones()


@pytest.fixture(autouse=True)
def _english():
    """Messages are asserted in English here; test_i18n checks the Chinese catalogue."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def client():
    """The admin in English (the UI follows the browser's language)."""
    from django.test import Client

    return Client(HTTP_ACCEPT_LANGUAGE="en")
