"""The workflow, its permissions and its record; the media library; cloning."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from PIL import Image

from campaigns import services
from campaigns.models import Approval, Campaign, ForbiddenWord, MediaAsset, Moment, State, StateChange
from campaigns.tests import factories as cf
from staff.roles import APPROVER, MARKETING_ADMIN
from staff.tests import factories


@pytest.fixture
def writer(marketing_admin):
    return marketing_admin


@pytest.fixture
def second_approver(db):
    return factories.user("approver-2", role=APPROVER)


@pytest.fixture
def plan(writer, directory):
    """A campaign with two moments, each with a valid variant."""
    campaign = cf.campaign(writer)
    first, second = cf.moment(campaign, day=0), cf.moment(campaign, day=1)
    for moment in (first, second):
        cf.variant(moment, departments=[directory.east], hashtags=["情人节"])
    return campaign


def _states(campaign):
    return list(campaign.moments.order_by("publish_at").values_list("state", flat=True))


def test_submit_then_approve_records_every_step(plan, writer, approver):
    assert services.campaign_submit(campaign=plan, by=writer) == 2
    plan.refresh_from_db()
    assert plan.state == State.IN_REVIEW and _states(plan) == ["in_review", "in_review"]
    approval = services.campaign_decide(campaign=plan, by=approver, approve=True, note="好")
    assert approval.moment is None and approval.decision == Approval.Decision.APPROVED
    plan.refresh_from_db()
    assert plan.state == State.APPROVED
    steps = list(StateChange.objects.filter(campaign=plan).order_by("id").values_list("to_state", "by__username"))
    assert steps == [("in_review", "marketing")] * 2 + [("approved", "approver")] * 2


def test_a_rejection_needs_a_note_and_sends_the_moment_back(plan, writer, approver):
    moment = plan.moments.first()
    services.moment_submit(moment=moment, by=writer)
    with pytest.raises(ValidationError):
        services.moment_decide(moment=moment, by=approver, approve=False, note=" ")
    services.moment_decide(moment=moment, by=approver, approve=False, note="价格写错了")
    moment.refresh_from_db()
    assert moment.state == State.DRAFT
    assert Approval.objects.get().note == "价格写错了"


def test_a_marketing_admin_cannot_approve(plan, writer):
    other_writer = factories.user("marketing-2", role=MARKETING_ADMIN)
    moment = plan.moments.first()
    services.moment_submit(moment=moment, by=writer)
    with pytest.raises(PermissionDenied):
        services.moment_decide(moment=moment, by=other_writer, approve=True)


def test_an_approver_cannot_submit(plan, approver):
    with pytest.raises(PermissionDenied):
        services.campaign_submit(campaign=plan, by=approver)


def test_nobody_approves_their_own_work(plan, writer, directory):
    """A user who both writes and approves (two roles) cannot approve what they wrote or submitted."""
    both = factories.user("both", role=MARKETING_ADMIN)
    both.groups.add(factories.Group.objects.get(name=APPROVER))
    moment = plan.moments.first()
    services.moment_edited(moment=moment, by=both)
    services.moment_submit(moment=moment, by=writer)
    with pytest.raises(PermissionDenied, match="another approver"):
        services.moment_decide(moment=moment, by=both, approve=True)
    own = cf.campaign(both, name="自己的")
    cf.variant(cf.moment(own), departments=[directory.east])
    services.campaign_submit(campaign=own, by=both)
    with pytest.raises(PermissionDenied):
        services.campaign_decide(campaign=own, by=both, approve=True)


def test_an_edit_after_approval_sends_it_back_to_draft(plan, writer, approver):
    moment = plan.moments.first()
    services.moment_submit(moment=moment, by=writer)
    services.moment_decide(moment=moment, by=approver, approve=True)
    services.moment_edited(moment=moment, by=writer)
    moment.refresh_from_db()
    assert moment.state == State.DRAFT and moment.edited_by == writer
    assert StateChange.objects.filter(moment=moment).latest("id").note == "Edited after submission."


def test_submission_is_refused_with_every_problem_named(plan, writer, directory):
    moment = plan.moments.first()
    variant = moment.variants.get()
    variant.copy = "全网最低价"
    variant.save()
    variant.target_departments.clear()
    ForbiddenWord.objects.create(word="最低价")
    with pytest.raises(ValidationError) as caught:
        services.campaign_submit(campaign=plan, by=writer)
    messages = " ".join(caught.value.messages)
    assert "最低价" in messages and "departments or associates" in messages and "全部客户" in messages
    assert _states(plan) == ["draft", "draft"]  # all or none


def test_a_moment_without_variants_cannot_be_submitted(writer):
    campaign = cf.campaign(writer)
    moment = cf.moment(campaign)
    with pytest.raises(ValidationError, match="no variant"):
        services.moment_submit(moment=moment, by=writer)


def test_a_transition_from_the_wrong_state_is_refused(plan, writer, approver):
    moment = plan.moments.first()
    with pytest.raises(services.WorkflowError, match="cannot become"):
        services.moment_decide(moment=moment, by=approver, approve=True)
    with pytest.raises(services.WorkflowError):
        services.moment_schedule(moment=moment, by=writer)


def test_schedule_and_cancel(plan, writer, approver):
    moment = plan.moments.first()
    services.moment_submit(moment=moment, by=writer)
    services.moment_decide(moment=moment, by=approver, approve=True)
    services.moment_schedule(moment=moment, by=writer)
    moment.refresh_from_db()
    assert moment.state == State.SCHEDULED
    with pytest.raises(services.WorkflowError, match="can no longer be edited"):
        services.moment_edited(moment=moment, by=writer)
    assert Moment.objects.get(pk=moment.pk).edited_by is None  # nothing half-written
    services.moment_cancel(moment=moment, by=writer, note="活动取消")
    moment.refresh_from_db()
    assert moment.state == State.CANCELLED
    plan.refresh_from_db()
    assert plan.state == State.DRAFT  # the other moment is still a draft


def test_a_stale_state_loses_the_race(plan, writer, approver):
    moment = plan.moments.first()
    services.moment_submit(moment=moment, by=writer)
    stale = Moment.objects.get(pk=moment.pk)
    services.moment_decide(moment=moment, by=approver, approve=True)
    stale.state = State.IN_REVIEW  # what a second browser tab still shows
    with pytest.raises(services.WorkflowError):
        services.moment_transition(stale, allowed_from=(State.IN_REVIEW,), to=State.DRAFT, by=approver)
    assert Moment.objects.get(pk=moment.pk).state == State.APPROVED


def test_clone_a_campaign_a_year_later_as_a_draft(plan, writer, approver, directory):
    services.campaign_submit(campaign=plan, by=writer)
    copy = services.campaign_clone(campaign=plan, by=writer)
    assert copy.starts_on == plan.starts_on.replace(year=plan.starts_on.year + 1)
    assert copy.state == State.DRAFT and _states(copy) == ["draft", "draft"]
    original, cloned = plan.moments.order_by("publish_at").first(), copy.moments.order_by("publish_at").first()
    assert (cloned.publish_at - original.publish_at).days in (365, 366)
    variant = cloned.variants.get()
    assert list(variant.target_departments.all()) == [directory.east]
    assert [h.text for h in variant.hashtags.all()] == ["情人节"]
    assert Campaign.objects.count() == 2


def test_clone_a_moment_a_day_later(plan, writer):
    moment = plan.moments.order_by("publish_at").first()
    copy = services.moment_clone(moment=moment, by=writer)
    assert copy.publish_at - moment.publish_at == dt.timedelta(days=1) and copy.variants.count() == 1


def _jpeg(color="pink") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2000, 1500), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_the_media_library_stores_each_picture_once_with_a_uuid_name(db, writer):
    asset = services.media_asset_create(data=_jpeg(), original_name="rose.jpeg", by=writer)
    again = services.media_asset_create(data=_jpeg(), original_name="copy.jpg", by=writer)
    assert again.pk == asset.pk and MediaAsset.objects.count() == 1
    assert asset.file.name == f"assets/{asset.public_id}.jpg" and (asset.width, asset.height) == (1440, 1080)
    assert asset.thumbnail.name.startswith("assets/thumbs/")
    assert services.media_asset_usage().get().usage_count == 0


def test_a_bad_upload_stores_nothing(db, writer, settings):
    with pytest.raises(ValidationError):
        services.media_asset_create(data=b"GIF89a nothing", by=writer)
    assert not MediaAsset.objects.exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(media.rglob("*.*"))


def test_hashtags_are_stored_once_normalised(db):
    assert services.hashtag_create(text="＃情人节").text == "情人节"
    assert services.hashtag_create(text="#情人节").pk == services.hashtag_create(text="情人节 ").pk
