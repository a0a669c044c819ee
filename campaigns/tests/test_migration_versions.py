"""Migrations 0014–0016 on data from before versions: what is going out keeps its content as the approved version,
what was approved but not yet out is reviewed again, and everyone who edited or submitted a moment is its
contributor (four eyes)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("campaigns", "0013_channel_codes")]
AFTER = [("campaigns", "0016_remove_variant_allow_personal_touch")]


@pytest.fixture
def old_world(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    User = apps.get_model("staff", "User")
    Campaign, Moment = apps.get_model("campaigns", "Campaign"), apps.get_model("campaigns", "Moment")
    Variant, Tone = apps.get_model("campaigns", "Variant"), apps.get_model("campaigns", "Tone")
    Task, Approval = apps.get_model("campaigns", "PublishTask"), apps.get_model("campaigns", "Approval")
    StateChange = apps.get_model("campaigns", "StateChange")
    Associate, Department = apps.get_model("staff", "Associate"), apps.get_model("staff", "Department")
    owner, editor = User.objects.create(username="owner"), User.objects.create(username="editor")
    approver = User.objects.create(username="approver")
    tone = Tone.objects.get_or_create(code="warm", defaults={"name": "温暖"})[0]
    store = Department.objects.create(wecom_id=7, name="上海店", path="/7/")
    lily = Associate.objects.create(userid="lily", name="Lily")
    now = timezone.now()
    start, end = now + dt.timedelta(hours=1), now + dt.timedelta(hours=9)
    campaign = Campaign.objects.create(name="旧计划", starts_on=now.date(), ends_on=now.date() + dt.timedelta(days=3),
                                       owner=owner)  # fmt: skip
    made = {}
    for state in ("live", "scheduled", "in_review", "draft"):
        moment = Moment.objects.create(campaign=campaign, title=state, state=state, edited_by=editor,
                                       publish_at=start, expires_at=end)  # fmt: skip
        variant = Variant.objects.create(moment=moment, name="全部", tone=tone, copy=f"{state} 文案",
                                         allow_personal_touch=state == "live")  # fmt: skip
        variant.target_departments.set([store])
        StateChange.objects.create(campaign=campaign, moment=moment, from_state="draft", to_state="in_review",
                                   by=editor)  # fmt: skip
        made[state] = (moment, variant)
    Approval.objects.create(campaign=campaign, moment=None, decision="approved", decided_by=approver)  # the plan
    task = Task.objects.create(moment=made["live"][0], variant=made["live"][1], associate=lily, state="notified")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    try:
        executor.migrate(AFTER)
    finally:  # whatever happens, the database is left at the latest migrations for the tests after this one
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    return {state: (moment.pk, variant.pk) for state, (moment, variant) in made.items()} | {
        "task": task.pk, "editor": editor.pk, "approver": approver.pk}  # fmt: skip


def test_it_keeps_what_is_going_out_and_sends_the_approved_back_to_review(old_world):
    from campaigns.models import Campaign, Moment, MomentContributor, PublishTask, Variant

    live = Variant.objects.select_related("approved_version").get(pk=old_world["live"][1])
    assert live.approved_version.content["copy"] == "live 文案"
    assert live.approved_version.approved_by_id == old_world["approver"]  # credited to the plan's approval
    assert live.personal_touch == "edit"  # the former yes
    assert PublishTask.objects.get(pk=old_world["task"]).version == live.approved_version
    scheduled = Moment.objects.get(pk=old_world["scheduled"][0])
    assert scheduled.state == "in_review"  # reviewed again: a library edit could have changed it unseen
    assert Variant.objects.get(pk=old_world["scheduled"][1]).approved_version is None
    assert Variant.objects.get(pk=old_world["scheduled"][1]).versions.count() == 1  # what the approver decides on
    assert Variant.objects.get(pk=old_world["in_review"][1]).versions.count() == 1
    assert not Variant.objects.get(pk=old_world["draft"][1]).versions.exists()
    assert Campaign.objects.get().state == "draft"
    editors = set(MomentContributor.objects.values_list("moment_id", "user_id"))
    moments = [old_world[state][0] for state in ("live", "scheduled", "in_review")]
    assert {(pk, old_world["editor"]) for pk in moments} <= editors
