"""Admin smoke (changelist, search, add, change for every registered model),
scoping in the admin, and bounded query counts on the big lists."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.authtoken.models import Token, TokenProxy

from analytics.models import PlatformRules
from campaigns import models as cm
from campaigns import services as campaign_services
from campaigns.tests import factories as cf
from staff.models import (
    Associate,
    CallbackEvent,
    Contact,
    Customer,
    CustomerTag,
    CustomerTagGroup,
    Department,
    DirectorySyncRun,
    User,
)
from staff.tests import factories


def _owner():
    return User.objects.get_or_create(username="campaign-owner")[0]


def _variant(directory):
    return cf.variant(cf.moment(cf.campaign(_owner())), departments=[directory.east], hashtags=["情人节"])


def _jpeg_asset():
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "pink").save(buffer, format="JPEG")
    return campaign_services.media_asset_create(data=buffer.getvalue(), original_name="rose.jpg")


def _interval():
    return IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)


# model -> how to get one instance of it (given the directory fixture)
INSTANCES = {
    Department: lambda d: d.east_store,
    Associate: lambda d: d.east_associate,
    Customer: lambda d: d.east_customer,
    CustomerTagGroup: lambda d: d.gold.group,
    CustomerTag: lambda d: d.gold,
    Contact: lambda d: d.east_contact,
    User: lambda d: User.objects.create_user("someone"),
    DirectorySyncRun: lambda d: DirectorySyncRun.objects.create(status="succeeded", counts={"contacts_created": 3}),
    CallbackEvent: lambda d: CallbackEvent.objects.create(key="k", event="change_external_tag", payload={}),
    Group: lambda d: Group.objects.get(name="Manager"),
    IntervalSchedule: lambda d: _interval(),
    CrontabSchedule: lambda d: CrontabSchedule.objects.create(minute="0", hour="9"),
    SolarSchedule: lambda d: SolarSchedule.objects.create(event="sunrise", latitude=31.2, longitude=121.5),
    ClockedSchedule: lambda d: ClockedSchedule.objects.create(clocked_time="2026-02-14T09:00:00+08:00"),
    PeriodicTask: lambda d: PeriodicTask.objects.create(
        name="demo", task="celery.backend_cleanup", interval=_interval()
    ),
    cm.Tone: lambda d: cf.tone(),
    cm.Hashtag: lambda d: cm.Hashtag.objects.create(text="情人节"),
    cm.ForbiddenWord: lambda d: cm.ForbiddenWord.objects.create(word="最低价"),
    cm.MediaAsset: lambda d: _jpeg_asset(),
    cm.CallToAction: lambda d: cf.discount(cf.moment(cf.campaign(_owner())).expires_at),
    cm.Campaign: lambda d: _variant(d).moment.campaign,
    cm.Moment: lambda d: _variant(d).moment,
    cm.Variant: _variant,
    cm.Approval: lambda d: cm.Approval.objects.create(
        campaign=cf.campaign(_owner()), decision="approved", decided_by=_owner()
    ),
    cm.PublishTask: lambda d: cm.PublishTask.objects.create(
        moment=(v := _variant(d)).moment, variant=v, associate=d.east_associate
    ),
    cm.StateChange: lambda d: cm.StateChange.objects.create(
        campaign=cf.campaign(_owner()), from_state="draft", to_state="in_review", by=_owner()
    ),
    PlatformRules: lambda d: PlatformRules.objects.create(effective_from="2027-01-01", feed_cap=3),
    TokenProxy: lambda d: TokenProxy.objects.get(key=Token.objects.create(user=User.objects.create_user("bot")).key),
}


READ_ONLY = {DirectorySyncRun, CallbackEvent, cm.Approval, cm.StateChange, cm.PublishTask}


def test_every_registered_model_has_a_smoke_row():
    assert set(admin.site._registry) == set(INSTANCES), "add the new admin model to INSTANCES"


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", list(INSTANCES), ids=lambda m: m.__name__)
def test_admin_pages_open_for_a_superuser(client, directory, model):
    superuser = User.objects.create_superuser("root", password="pw-for-tests-only")
    client.force_login(superuser)
    instance = INSTANCES[model](directory)
    assert client.get(_url(model, "changelist")).status_code == 200
    assert client.get(_url(model, "changelist"), {"q": "a"}).status_code == 200
    read_only = model in READ_ONLY  # records the system writes; people only look
    assert client.get(_url(model, "add")).status_code == (403 if read_only else 200)
    assert client.get(_url(model, "change", instance.pk)).status_code == 200


def test_the_associate_list_shows_contact_counts_and_departments(client, directory, marketing_admin):
    client.force_login(marketing_admin)
    response = client.get(_url(Associate, "changelist"), {"department": directory.east.pk})
    content = response.content.decode()
    assert directory.east_associate.userid in content
    assert directory.south_associate.userid not in content
    assert response.context["cl"].result_list[0].contact_count == 2


def test_filters_narrow_the_lists(client, directory, marketing_admin):
    client.force_login(marketing_admin)
    unverified = client.get(_url(Associate, "changelist"), {"is_verified__exact": "0"}).context["cl"].result_list
    assert [a.pk for a in unverified] == [directory.south_associate.pk]
    tagged = client.get(_url(Contact, "changelist"), {"tag": directory.gold.pk}).context["cl"].result_list
    assert {c.pk for c in tagged} == set(directory.gold.contacts.values_list("pk", flat=True))
    customers = client.get(_url(Customer, "changelist"), {"tag": directory.gold.pk}).context["cl"].result_list
    assert {c.pk for c in customers} == {directory.east_customer.pk, directory.shared_customer.pk}


def test_a_manager_sees_only_their_region_in_the_admin(client, directory, east_manager):
    client.force_login(east_manager)
    listing = client.get(_url(Associate, "changelist")).content.decode()
    assert directory.east_associate.userid in listing
    assert directory.south_associate.userid not in listing
    assert client.get(_url(Associate, "change", directory.east_associate.pk)).status_code == 200
    assert client.get(_url(Associate, "change", directory.south_associate.pk)).status_code == 404
    assert client.get(_url(Contact, "change", directory.south_contact.pk)).status_code == 404
    assert client.get(_url(Customer, "change", directory.south_customer.pk)).status_code == 404
    assert client.get(_url(Department, "change", directory.south_store.pk)).status_code == 404


def test_a_manager_cannot_change_the_directory(client, directory, east_manager):
    client.force_login(east_manager)
    assert client.get(_url(Associate, "add")).status_code == 403
    response = client.post(_url(Associate, "change", directory.east_associate.pk), {"name": "Changed"})
    assert response.status_code == 403


def test_adding_an_associate_stores_the_userid_lower_cased(client, directory, marketing_admin):
    client.force_login(marketing_admin)
    response = client.post(
        _url(Associate, "add"),
        {
            "userid": "ZhangWei",
            "name": "张伟",
            "main_department": directory.east_store.pk,
            "is_verified": "on",
            "is_active": "on",
            "associatedepartment_set-TOTAL_FORMS": "1",
            "associatedepartment_set-INITIAL_FORMS": "0",
            "associatedepartment_set-0-department": directory.east_store.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Associate.objects.get(userid="zhangwei").departments.get() == directory.east_store


def test_moving_a_department_under_its_own_store_is_refused(client, directory, marketing_admin):
    client.force_login(marketing_admin)
    response = client.post(
        _url(Department, "change", directory.east.pk),
        {
            "name": "East",
            "wecom_id": directory.east.wecom_id,
            "kind": "region",
            "parent": directory.east_store.pk,
            "order": 0,
        },
    )
    assert response.status_code == 200
    assert "cannot be its parent" in response.content.decode()


def _grow(directory, associates: int, contacts_each: int):
    for i in range(associates):
        member = factories.associate(f"Extra{i}", departments=[directory.east_store])
        for j in range(contacts_each):
            factories.contact(member, factories.customer(f"C{i}x{j}"), tags=[directory.gold])


@pytest.mark.parametrize("model", [Associate, Customer, Contact, Department, CustomerTag], ids=lambda m: m.__name__)
def test_list_pages_run_a_bounded_number_of_queries(
    client, directory, marketing_admin, model, django_assert_max_num_queries
):
    client.force_login(marketing_admin)
    url = _url(model, "changelist")
    client.get(url)  # warm the session and content types
    _grow(directory, 2, 2)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    _grow(directory, 12, 4)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.status_code == 200
