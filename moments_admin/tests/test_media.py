"""/media/ in the embedded setup: the photos the associate's page and WeCom's client fetch."""

from __future__ import annotations

import pytest
from django.urls import clear_url_caches


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media" / "photos").mkdir(parents=True)
    (tmp_path / "media" / "photos" / "rose.jpg").write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    (tmp_path / "secret.txt").write_text("outside the media folder")
    return settings.MEDIA_ROOT


def test_an_uploaded_photo_is_served(client, media):
    response = client.get("/media/photos/rose.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == b"\xff\xd8\xff\xe0 a jpeg"


@pytest.mark.parametrize("path", ["/media/../secret.txt", "/media/%2e%2e/secret.txt", "/media/photos/", "/media/nope"])
def test_nothing_outside_the_folder_nor_a_listing(media, path):
    from django.test import Client

    response = Client(raise_request_exception=False).get(path)  # an escape is a SuspiciousFileOperation: 400
    assert response.status_code in {400, 404} and b"outside the media folder" not in response.content


def test_production_leaves_media_to_the_proxy(client, media, settings):
    import importlib

    from moments_admin import urls

    settings.MOMENTS_SERVE_MEDIA = False
    try:
        importlib.reload(urls)
        clear_url_caches()
        assert client.get("/media/photos/rose.jpg").status_code == 404
    finally:
        settings.MOMENTS_SERVE_MEDIA = True
        importlib.reload(urls)
        clear_url_caches()
