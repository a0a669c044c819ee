"""Forecast snapshots: the reach forecast is never computed inside a request (DESIGN.md §4, §5.2; issue #19).

A campaign's plan changes (``plan_changed``, after commit, from ``campaigns.services``) or someone asks
(``request``): its one ``ForecastJob`` row is queued, debounced (a burst of edits runs once, ``DEBOUNCE``
after the last, at most ``MAX_WAIT`` after the first), and ``analytics.tasks.forecast_job_task`` runs it on
the bulk queue, one run at a time per campaign (the row is claimed under a row lock; a change during a run
queues one more run when it ends). A run reads the plan (``plan_read``), forecasts the campaign
(``analytics.forecast.forecast_snapshot_create``: a ``ForecastSnapshot`` with the whole forecast as JSON)
and each of its moments alone, next to the other approved and scheduled moments (``MomentForecast``: the
moment page's figures, which a campaign's rows do not give when the campaign has drafts on the same days) —
from the campaign's own pass over the contacts where that is exact, else one by one — recording its
progress on the row. The drafting checks of ``campaigns.planning`` run once for all the moments.

The admin pages and the API read only these rows, in a fixed number of small queries: the snapshot, the
job, and the plan as it stands now (three queries) to tell whether the snapshot is stale and what changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field, fields

from django.conf import settings
from django.db import transaction
from django.db.models import Value
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from analytics import forecast
from analytics.forecast import Collision, Forecast, VariantDay
from analytics.models import ForecastJob, ForecastSnapshot, MomentForecast
from campaigns.models import Moment, State, Variant

logger = logging.getLogger(__name__)

# A plan change waits this long for the next one: a planner's burst of edits is forecast once.
DEBOUNCE_SECONDS = 30
# … but never longer than this after the first change of the burst (a campaign edited without a pause).
MAX_WAIT_SECONDS = 5 * DEBOUNCE_SECONDS
# A run that started longer ago than this is dead (its worker was killed): longer than the task's time limit.
LEASE = dt.timedelta(minutes=35)
# A queued job due this long ago lost its message (a broker restart): the periodic sweep sends it again.
LOST_AFTER = dt.timedelta(minutes=10)
# The forecast of chosen moments (the API) is kept this long after it finished.
KEEP_CHOSEN = dt.timedelta(days=1)
MAX_CHOSEN_MOMENTS = 50
SHOWN_CHANGES = 5

Q, RUN, DONE, FAILED = (ForecastJob.State.QUEUED, ForecastJob.State.RUNNING, ForecastJob.State.DONE,
                        ForecastJob.State.FAILED)  # fmt: skip


# --- the forecast as data ------------------------------------------------------------------------
def forecast_json(result: Forecast) -> dict:
    """The forecast as plain data (dates become ISO strings in the JSON field)."""
    return asdict(result)


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _build(cls, data: dict, **changed):
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known}, **changed)


def forecast_from_json(data: dict | None) -> Forecast | None:
    """The ``Forecast`` a snapshot keeps, rebuilt (keys it does not know are ignored)."""
    if data is None:
        return None
    top = {k: v for k, v in data.items() if k not in ("variants", "collisions", "cap_loss_by_associate_day")}
    return _build(
        Forecast, top,
        variants=[_build(VariantDay, {**v, "day": _day(v["day"])}) for v in data.get("variants", [])],
        collisions=[_build(Collision, {**c, "day": _day(c["day"])}) for c in data.get("collisions", [])],
        cap_loss_by_associate_day=[{**r, "day": _day(r["day"])} for r in data.get("cap_loss_by_associate_day", [])],
    )  # fmt: skip


# --- the plan as it stands -----------------------------------------------------------------------
PLANNED, DRAFT, CANCELLED = "planned", "draft", "cancelled"


def _kind(state: str) -> str:
    """What of a moment's state the forecast reads: cancelled ones are not forecast, and next to a moment
    forecast alone only the approved and scheduled ones are planned (``analytics.forecast``)."""
    if state == State.CANCELLED:
        return CANCELLED
    return PLANNED if state in forecast.OTHER_PLANNED_STATES else DRAFT


def _at(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


@dataclass
class Plan:
    """What the forecast reads of a campaign: its moments' times, mode and kind of state, its variants'
    order, audience (all, or tags) and senders (departments, associates). Titles and names are kept
    beside, to say what changed; they are not part of the digest."""

    moments: list = field(default_factory=list)  # [id, publish_at, expires_at, mode, kind]
    variants: list = field(default_factory=list)  # [id, moment id, position, all, tags, departments, associates]
    titles: dict = field(default_factory=dict)  # {"moments": {id: title}, "variants": {id: name}}

    @property
    def digest(self) -> str:
        text = json.dumps([self.moments, self.variants], separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def as_json(self) -> dict:
        return {"moments": self.moments, "variants": self.variants, "titles": self.titles}

    @classmethod
    def from_json(cls, data: dict | None) -> Plan:
        data = data or {}
        return cls(data.get("moments", []), data.get("variants", []), data.get("titles", {}))

    def live_moment_ids(self) -> list[int]:
        return [m[0] for m in self.moments if m[4] != CANCELLED]


def plan_read(campaign_id: int) -> Plan:
    """The campaign's plan now, in three queries whatever the brand's size: the moments, the variants, and
    the variants' tags, departments and associates (one UNION ALL of the three tables)."""
    moments = list(Moment.objects.filter(campaign_id=campaign_id).order_by("pk")
                   .values_list("pk", "title", "publish_at", "expires_at", "mode", "state"))  # fmt: skip
    variants = list(Variant.objects.filter(moment__campaign_id=campaign_id).order_by("pk")
                    .values_list("pk", "moment_id", "name", "position", "audience_all"))  # fmt: skip
    targets: dict[int, tuple[list, list, list]] = {pk: ([], [], []) for pk, *_ in variants}
    mine = {"variant__moment__campaign_id": campaign_id}
    tags = Variant.audience_tags.through.objects.filter(**mine).values_list("variant_id", Value(0), "customertag_id")
    departments = Variant.target_departments.through.objects.filter(**mine).values_list(
        "variant_id", Value(1), "department_id"
    )
    associates = Variant.target_associates.through.objects.filter(**mine).values_list(
        "variant_id", Value(2), "associate_id"
    )
    for variant_id, which, target in tags.union(departments, associates, all=True):
        if variant_id in targets:
            targets[variant_id][which].append(target)
    return Plan(
        moments=[[pk, _at(publish_at), _at(expires_at), mode, _kind(state)]
                 for pk, _title, publish_at, expires_at, mode, state in moments],
        variants=[[pk, moment_id, position, bool(audience_all), *(sorted(t) for t in targets[pk])]
                  for pk, moment_id, _name, position, audience_all in variants],
        titles={"moments": {str(pk): title for pk, title, *_ in moments},
                "variants": {str(pk): name for pk, _m, name, *_ in variants}},
    )  # fmt: skip


def plan_changes(before: Plan, after: Plan) -> list[str]:
    """What changed from ``before`` to ``after``, in plain sentences (the moments first)."""

    def title(pk) -> str:
        return after.titles.get("moments", {}).get(str(pk)) or before.titles.get("moments", {}).get(str(pk), "—")

    def name(pk) -> str:
        return after.titles.get("variants", {}).get(str(pk)) or before.titles.get("variants", {}).get(str(pk), "—")

    changes = []
    old, new = {m[0]: m for m in before.moments}, {m[0]: m for m in after.moments}
    for pk in sorted(old.keys() | new.keys()):
        values = {"moment": title(pk)}
        if pk not in old:
            changes.append(gettext("“%(moment)s” was added.") % values)
        elif pk not in new:
            changes.append(gettext("“%(moment)s” was deleted.") % values)
        else:
            (_, *was), (_, *now) = old[pk], new[pk]
            if was[:2] != now[:2]:
                changes.append(gettext("“%(moment)s”: its times changed.") % values)
            if was[2] != now[2]:
                changes.append(gettext("“%(moment)s”: its mode changed.") % values)
            if was[3] != now[3]:
                changes.append({
                    CANCELLED: gettext("“%(moment)s” was cancelled."),
                    PLANNED: gettext("“%(moment)s” was approved."),
                    DRAFT: gettext("“%(moment)s” went back to draft."),
                }[now[3]] % values)  # fmt: skip
    old, new = {v[0]: v for v in before.variants}, {v[0]: v for v in after.variants}
    for pk in sorted(old.keys() | new.keys()):
        moment_id = (new.get(pk) or old[pk])[1]
        values = {"moment": title(moment_id), "variant": name(pk)}
        if pk not in old:
            changes.append(gettext("“%(moment)s”: variant “%(variant)s” was added.") % values)
        elif pk not in new:
            changes.append(gettext("“%(moment)s”: variant “%(variant)s” was deleted.") % values)
        else:
            was, now = old[pk], new[pk]
            if was[3] != now[3] or was[4] != now[4]:
                changes.append(gettext("“%(moment)s”: the audience of “%(variant)s” changed.") % values)
            if was[5:] != now[5:]:
                changes.append(gettext("“%(moment)s”: the associates of “%(variant)s” changed.") % values)
            if was[1:3] != now[1:3]:
                changes.append(gettext("“%(moment)s”: “%(variant)s” moved.") % values)
    return changes


# --- asking ------------------------------------------------------------------------------------
def _send(job: ForecastJob, *, countdown: float) -> None:
    """The job's message, after commit (the worker must find the row as committed). A broker that is down
    loses it: the job stays queued and the periodic sweep sends it again (``LOST_AFTER``)."""
    from analytics.tasks import forecast_job_task

    pk = job.pk
    transaction.on_commit(lambda: forecast_job_task.apply_async(args=[pk], countdown=max(0.0, countdown)), robust=True)


def plan_changed(campaign_id: int) -> None:
    """Call when a campaign's plan may have changed (a moment, a variant, a state): once committed, its
    forecast is recomputed, debounced. A run that finds the plan as its snapshot has it does nothing."""
    transaction.on_commit(lambda: request(campaign_id), robust=True)


def _running(job: ForecastJob, now: dt.datetime) -> bool:
    return job.state == RUN and job.started_at is not None and job.started_at > now - LEASE


@transaction.atomic
def request(campaign_id: int, *, forced: bool = False, by=None, delay: float | None = None) -> ForecastJob:
    """Queue the recomputation of ``campaign_id``'s forecast, due ``delay`` seconds from now (by default
    ``DEBOUNCE_SECONDS``; 0: now). Merged with one already queued (a later change pushes it back, up to
    ``MAX_WAIT_SECONDS``; asking now brings it forward); during a run, one more run follows it. ``forced``:
    recompute even if the plan did not change (the directory and other campaigns change too)."""
    delay = DEBOUNCE_SECONDS if delay is None else delay
    now = timezone.now()
    job, _created = ForecastJob.objects.get_or_create(campaign_id=campaign_id, defaults={"state": DONE})
    job = ForecastJob.objects.select_for_update().get(pk=job.pk)  # one request or claim at a time per campaign
    first = not (job.requested_at and job.started_at and job.requested_at > job.started_at)
    job.requested_at, job.forced = now, job.forced or forced
    job.requested_by = by or job.requested_by
    if job.state == Q or _running(job, now):
        if job.state == RUN and first:
            job.queued_at = now  # the first change since the run began starts the next burst
        due = min(now + dt.timedelta(seconds=delay), (job.queued_at or now) + dt.timedelta(seconds=MAX_WAIT_SECONDS))
        # A later change pushes the run back (its message defers itself); asking now brings it forward,
        # with a message of its own. During a run the next one is sent when the run ends.
        send = job.state == Q and (job.due_at is None or due < job.due_at)
        job.due_at = due
    else:  # done, failed, never run, or a run that died
        job.state, job.queued_at, job.due_at = Q, now, now + dt.timedelta(seconds=delay)
        job.stage, job.steps_done, job.steps_total = "", 0, 0
        send = True
    job.save()
    if send:
        _send(job, countdown=delay)
    return job


@transaction.atomic
def moments_request(*, moments: list[Moment], by) -> ForecastJob:
    """Queue the forecast of the chosen ``moments`` together (the API's what-if); its answer is the job's."""
    now = timezone.now()
    job = ForecastJob.objects.create(moments=sorted(m.pk for m in moments), state=Q, forced=True, queued_at=now,
                                     requested_at=now, due_at=now, requested_by=by)  # fmt: skip
    _send(job, countdown=0)
    return job


# --- running -----------------------------------------------------------------------------------
def _claim(job_id: int, *, forced: bool) -> tuple[ForecastJob | None, str]:
    """Take the job for this run (under its row lock: one run at a time per campaign), or say why not."""
    now = timezone.now()
    with transaction.atomic():
        job = ForecastJob.objects.select_for_update(of=("self",)).select_related("campaign").filter(pk=job_id).first()
        if job is None:
            return None, "gone"
        if _running(job, now):
            return None, "already running"
        if job.state in (DONE, FAILED) and not forced:
            return None, "nothing to do"  # an earlier message of a job that ran since
        if job.state == Q and job.due_at and job.due_at > now and not forced:
            _send(job, countdown=(job.due_at - now).total_seconds())  # debounced: once more, when due
            return None, "deferred"
        this_run_forced = job.forced or forced
        job.forced = False  # taken by this run: a request during it decides the next one's
        job.state, job.started_at, job.finished_at, job.error = RUN, now, None, ""
        job.stage, job.steps_done, job.steps_total = "plan", 0, 0
        job.save()
        job.forced = this_run_forced  # (in memory only: what this run does)
        return job, ""


def _progress(job: ForecastJob, **values) -> None:
    """Committed at once (outside any transaction): the pages follow it."""
    ForecastJob.objects.filter(pk=job.pk).update(**values)


def _finish(job: ForecastJob, *, error: str = "", result=None) -> None:
    now = timezone.now()
    with transaction.atomic():
        job = ForecastJob.objects.select_for_update().get(pk=job.pk)
        job.finished_at, job.error, job.result = now, error[:500], result
        if job.campaign_id and job.requested_at and job.started_at and job.requested_at > job.started_at:
            job.state = Q  # the plan changed during the run: once more
            _send(job, countdown=max(0.0, ((job.due_at or now) - now).total_seconds()))
        else:
            job.state = FAILED if error else DONE
        job.save()


def _run_campaign(job: ForecastJob, *, forced: bool) -> dict:
    campaign = job.campaign
    read_at = timezone.now()
    plan = plan_read(campaign.pk)
    latest = ForecastSnapshot.objects.filter(campaign=campaign).order_by("-computed_at").only("plan_digest").first()
    if not forced and latest is not None and latest.plan_digest == plan.digest:
        return {"unchanged": campaign.pk}
    moment_ids = plan.live_moment_ids()
    _progress(job, stage="checks", steps_total=2 + len(moment_ids))
    checked = {**plan.as_json(), "warnings": drafting_checks(campaign)}
    _progress(job, stage="campaign", steps_done=1)
    # Each moment alone comes from the campaign's pass over the contacts where that is exact (its day planned
    # the same way alone: the usual case); the others are forecast one by one after it.
    alone: dict[int, Forecast] = {}
    forecast.forecast_snapshot_create(campaign=campaign, now=read_at, plan=checked, plan_digest=plan.digest,
                                      alone=alone)  # fmt: skip
    _progress(job, stage="moments", steps_done=2)
    moments = Moment.objects.filter(pk__in=moment_ids).exclude(state=State.CANCELLED).order_by("publish_at", "pk")
    for done, moment in enumerate(moments, start=3):
        result = alone[moment.pk] if moment.pk in alone else forecast.forecast_moments([moment])
        MomentForecast.objects.update_or_create(moment=moment, defaults={
            "computed_at": read_at, "forecast": forecast_json(result), "plan_digest": plan.digest})  # fmt: skip
        _progress(job, steps_done=done)
    MomentForecast.objects.filter(moment__campaign=campaign).exclude(moment_id__in=moment_ids).delete()
    return {"forecast": campaign.pk, "moments": len(moment_ids)}


def drafting_checks(campaign) -> dict:
    """The drafting warnings of the campaign's moments still being planned (``campaigns.planning``: in time,
    WeCom's rate, overlapping variants), read over every contact like the forecast and so kept with it: per
    language, [moment id, sentences] in publication order."""
    from campaigns import planning

    moments = list(campaign.moments.filter(state__in=planning.PLANNING_STATES).order_by("publish_at", "id"))
    checks = planning.moments_check(moments)
    said = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            said[code] = [[m.pk, planning.check_warnings(checks[m.pk])] for m in moments]
    return said


def _run_chosen(job: ForecastJob) -> dict:
    _progress(job, stage="moments", steps_total=1)
    moments = list(Moment.objects.filter(pk__in=job.moments).exclude(state=State.CANCELLED).order_by("pk"))
    result = forecast_json(forecast.forecast_moments(moments))
    _progress(job, steps_done=1)
    return {"result": result}


def job_run(job_id: int, *, forced: bool = False) -> dict:
    """Run the job (the worker's task; the sweep's too): claim it, forecast, record the outcome."""
    job, why = _claim(job_id, forced=forced)
    if job is None:
        return {"skipped": why}
    try:
        outcome = _run_campaign(job, forced=job.forced) if job.campaign_id else _run_chosen(job)
    except Exception as error:  # recorded on the job for the pages, and logged; the next change retries
        logger.exception("forecast job %s failed", job.pk)
        _finish(job, error=str(error) or error.__class__.__name__)
        return {"failed": job.pk}
    _finish(job, result=outcome.pop("result", None))
    return outcome


def recompute(campaign_id: int) -> dict:
    """Recompute the campaign's forecast now, in this process (the periodic sweep), unless a run is on."""
    job, _created = ForecastJob.objects.get_or_create(campaign_id=campaign_id, defaults={"state": DONE})
    return job_run(job.pk, forced=True)


def sweep() -> dict:
    """Periodic: send again the queued jobs whose message was lost, release the runs that died (their
    campaign is queued again), and forget the chosen-moments forecasts of yesterday."""
    now = timezone.now()
    resent = []
    for job in ForecastJob.objects.filter(state=Q, due_at__lt=now - LOST_AFTER):
        with transaction.atomic():
            if ForecastJob.objects.filter(pk=job.pk, state=Q).update(due_at=now):
                job.due_at = now
                _send(job, countdown=0)
                resent.append(job.pk)
    dead = list(ForecastJob.objects.filter(state=RUN, started_at__lt=now - LEASE).values_list("pk", "campaign_id"))
    for pk, campaign_id in dead:
        ForecastJob.objects.filter(pk=pk, state=RUN).update(state=FAILED, finished_at=now, error="interrupted")
        if campaign_id:
            request(campaign_id, delay=0)
    ForecastJob.objects.filter(campaign__isnull=True, finished_at__lt=now - KEEP_CHOSEN).delete()
    return {k: v for k, v in (("resent", resent), ("interrupted", [pk for pk, _ in dead])) if v}


# --- reading (the pages and the API) -----------------------------------------------------------
@dataclass
class Status:
    """A snapshot as the pages show it: its figures, when, whether the plan changed since (and what), and
    the recomputation under way."""

    forecast: Forecast | None
    computed_at: dt.datetime | None
    plan: Plan  # as it stands now
    stale: bool = False
    changes: list[str] = field(default_factory=list)
    changed_at: dt.datetime | None = None  # the last change asked for since the snapshot
    job: ForecastJob | None = None
    # The campaign's drafting warnings as the run checked them, in the active language: {moment id: sentences}
    # (None: not checked yet).
    drafting: dict[int, list[str]] | None = None
    drafting_at: dt.datetime | None = None

    @property
    def progress(self) -> dict:
        return job_progress(self.job)


def _status(snapshot, plan: Plan, job: ForecastJob | None, *, plan_of_snapshot: Plan | None) -> Status:
    status = Status(forecast=forecast_from_json(snapshot.forecast) if snapshot else None,
                    computed_at=snapshot.computed_at if snapshot else None, plan=plan, job=job)  # fmt: skip
    if snapshot is not None:
        status.stale = snapshot.plan_digest != plan.digest
        if status.stale and plan_of_snapshot is not None and plan_of_snapshot.moments:
            status.changes = plan_changes(plan_of_snapshot, plan)
        if status.stale and job is not None and job.requested_at and job.requested_at > snapshot.computed_at:
            status.changed_at = job.requested_at
    if status.forecast is None and snapshot is not None:
        status.stale = True  # made before snapshots kept the whole forecast
    return status


def _drafting(status: Status, snapshot) -> Status:
    stored = ((snapshot.plan or {}).get("warnings") if snapshot is not None else None) or None
    if stored is not None:
        said = stored.get(translation.get_language()) or stored.get(settings.LANGUAGE_CODE) or []
        status.drafting = {int(pk): sentences for pk, sentences in said}
        status.drafting_at = snapshot.computed_at
    return status


def campaign_status(campaign_id: int) -> Status:
    """The campaign's last snapshot and its recomputation: five small queries, whatever the brand's size."""
    snapshot = ForecastSnapshot.objects.filter(campaign_id=campaign_id).order_by("-computed_at").first()
    job = ForecastJob.objects.filter(campaign_id=campaign_id).first()
    plan = plan_read(campaign_id)
    status = _status(snapshot, plan, job, plan_of_snapshot=Plan.from_json(snapshot.plan) if snapshot else None)
    return _drafting(status, snapshot)


def moment_status(moment: Moment) -> Status:
    """The moment's last forecast alone, judged against its campaign's plan now (a sibling approved or
    moved changes it too); what changed, and the drafting warnings, from the campaign's last snapshot (the
    same run's). Six small queries."""
    snapshot = MomentForecast.objects.filter(moment=moment).first()
    job = ForecastJob.objects.filter(campaign_id=moment.campaign_id).first()
    plan = plan_read(moment.campaign_id)
    campaign = (ForecastSnapshot.objects.filter(campaign_id=moment.campaign_id).order_by("-computed_at")
                .only("computed_at", "plan", "plan_digest").first())  # fmt: skip
    before = None
    if snapshot is not None and campaign is not None and campaign.plan_digest == snapshot.plan_digest:
        before = Plan.from_json(campaign.plan)
    return _drafting(_status(snapshot, plan, job, plan_of_snapshot=before), campaign)


def job_progress(job: ForecastJob | None) -> dict:
    """The job's state for people and for the poll: ``state``, a sentence, and the figures behind it."""
    if job is None:
        return {"state": "none", "text": "", "steps_done": 0, "steps_total": 0, "elapsed_seconds": None}
    now = timezone.now()
    since = job.started_at if job.state == RUN else None
    elapsed = int((now - since).total_seconds()) if since else None
    if job.state == Q:
        wait = int(((job.due_at or now) - now).total_seconds())
        text = (
            ngettext(
                "Recomputation queued: it starts in %(count)s second or when a worker is free.",
                "Recomputation queued: it starts in %(count)s seconds or when a worker is free.",
                wait,
            )
            % {"count": wait}
            if wait > 0
            else gettext("Recomputation queued: it starts when a worker is free.")
        )
    elif job.state == RUN:
        stage = {
            "checks": gettext("the drafting checks"),
            "campaign": gettext("the campaign"),
            "moments": gettext("each moment alone"),
        }.get(job.stage, gettext("reading the plan"))
        text = gettext("Recomputing (%(stage)s, step %(done)s of %(total)s) for %(seconds)s s.") % {
            "stage": stage,
            "done": min(job.steps_done + 1, max(job.steps_total, 1)),
            "total": max(job.steps_total, 1),
            "seconds": elapsed,
        }
    elif job.state == FAILED:
        text = gettext("The last recomputation failed: %(error)s") % {"error": job.error}
    else:
        text = ""
    if job.state == Q and job.error:
        text += " " + gettext("The last recomputation failed: %(error)s") % {"error": job.error}
    return {"state": job.state, "text": text, "steps_done": job.steps_done, "steps_total": job.steps_total,
            "elapsed_seconds": elapsed}  # fmt: skip


def job_for_moments(public_id) -> ForecastJob | None:
    return ForecastJob.objects.filter(public_id=public_id).first()
