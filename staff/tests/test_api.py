"""The directory API: scoped reads (a manager sees their region; another region's associate
is a 404), paginated lists, token authentication for integrations, and starting a sync."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from staff.models import DirectorySyncRun

BASE = "/api/v1/directory"


def _client(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user)
    return client


def test_a_manager_reads_their_region_only(directory, east_manager):
    api = _client(east_manager)
    associates = api.get(f"{BASE}/associates/").json()
    assert [a["userid"] for a in associates["results"]] == [directory.east_associate.userid]
    assert associates["count"] == 1 and associates["results"][0]["contacts"] == 2
    assert api.get(f"{BASE}/associates/{directory.south_associate.userid}/").status_code == 404
    assert api.get(f"{BASE}/associates/{directory.south_associate.userid}/contacts/").status_code == 404
    customers = {c["external_userid"] for c in api.get(f"{BASE}/customers/").json()["results"]}
    assert customers == {directory.east_customer.external_userid, directory.shared_customer.external_userid}
    assert api.get(f"{BASE}/customers/{directory.south_customer.external_userid}/").status_code == 404
    departments = {d["name"] for d in api.get(f"{BASE}/departments/").json()["results"]}
    assert departments == {"East", "Shanghai IFC"}


def test_the_lists_are_paginated_and_filtered(directory, marketing_admin):
    api = _client(marketing_admin)
    page = api.get(f"{BASE}/associates/", {"page_size": 1}).json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    unverified = api.get(f"{BASE}/associates/", {"verified": "0"}).json()["results"]
    assert [a["userid"] for a in unverified] == [directory.south_associate.userid]
    east = api.get(f"{BASE}/associates/", {"department": directory.east.wecom_id}).json()["results"]
    assert [a["userid"] for a in east] == [directory.east_associate.userid]
    assert api.get(f"{BASE}/associates/", {"department": "abc"}).status_code == 400
    contacts = api.get(f"{BASE}/associates/{directory.east_associate.userid}/contacts/").json()
    assert contacts["count"] == 2


def test_an_integration_authenticates_with_a_token(directory, marketing_admin):
    token = Token.objects.create(user=marketing_admin)
    api = APIClient()
    assert api.get(f"{BASE}/associates/").status_code in (401, 403)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get(f"{BASE}/associates/").status_code == 200
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert api.get(f"{BASE}/associates/").status_code == 401


@pytest.mark.django_db(transaction=False)
def test_a_sync_starts_once_and_only_for_those_who_may(directory, marketing_admin, east_manager):
    assert _client(east_manager).post(f"{BASE}/syncs/").status_code == 403
    api = _client(marketing_admin)
    assert api.post(f"{BASE}/syncs/").status_code == 202
    DirectorySyncRun.objects.create(status=DirectorySyncRun.Status.RUNNING)
    assert api.post(f"{BASE}/syncs/").status_code == 409
    assert api.get(f"{BASE}/syncs/").json()["count"] == 1


def test_an_unknown_api_url_answers_json(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    assert client.get("/no-such-page/").status_code == 404
