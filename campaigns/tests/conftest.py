import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded files go to a per-test folder, not the checkout's var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _english():
    """Messages are asserted in English here; test_i18n checks the Chinese catalogue."""
    from django.utils import translation

    with translation.override("en"):
        yield
