import datetime as dt

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Moment
from campaigns.tests import factories as cf
from staff.roles import APPROVER, MARKETING_ADMIN
from staff.tests import factories
from wecom.client import client_from_settings
from wecom.ratelimit import Unlimited


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


# --- dispatch: the sandbox corp's people as the app's associates, and a moment due now -----------------
@pytest.fixture
def team(sandbox_corp):
    """The app's side of the sandbox corp: Lily, Ken and Mia (unlicensed) in one store."""
    store = factories.department("上海店")
    people = {name: factories.associate(name, departments=[store]) for name in ("lily", "ken", "mia")}
    for name, associate in people.items():
        associate.userid = name
        associate.save(update_fields=["userid"])
    return store, people


@pytest.fixture
def scheduled(team, db):
    """A moment due now with one variant for the store, approved and scheduled."""
    store, _ = team
    writer = factories.user("writer", role=MARKETING_ADMIN)
    approver = factories.user("checker", role=APPROVER)
    campaign = cf.campaign(writer, days_ahead=0, length=2)
    now = timezone.now()
    moment = Moment.objects.create(campaign=campaign, title="情人节", publish_at=now + dt.timedelta(minutes=5),
                                   expires_at=now + dt.timedelta(hours=12))  # fmt: skip
    cf.variant(moment, departments=[store], hashtags=["情人节"])
    services.moment_submit(moment=moment, by=writer)
    services.moment_decide(moment=moment, by=approver, approve=True)
    services.moment_schedule(moment=moment, by=writer)
    Moment.objects.filter(pk=moment.pk).update(publish_at=now - dt.timedelta(seconds=1))
    moment.refresh_from_db()
    return moment


@pytest.fixture
def wecom(wecom_base_url, settings):
    settings.MOMENTS_PUBLIC_URL = "https://moments.example.com"
    client = client_from_settings(base_url=wecom_base_url, limiter=Unlimited())
    client.forget_token()
    yield client
    client.close()
