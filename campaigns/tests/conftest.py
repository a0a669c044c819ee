import pytest


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
