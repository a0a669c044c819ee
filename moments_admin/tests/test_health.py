from django.test import override_settings


def test_healthz_reports_database_broker_and_cache(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "cache": "ok"}
    assert "no-cache" in response["Cache-Control"]


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_BROKER_TRANSPORT_OPTIONS={})
def test_healthz_is_503_when_the_broker_is_unreachable(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["broker"] == "error"
    assert response.json()["database"] == "ok"


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
)
def test_healthz_is_503_when_the_cache_is_unreachable(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["cache"] == "error"


def test_healthz_only_answers_get(client, db):
    assert client.post("/healthz").status_code == 405


# --- /healthz/queues: beat and the workers of each queue -----------------------------------------------
def test_queues_are_unknown_until_a_worker_records_a_heartbeat(client, db):
    response = client.get("/healthz/queues")
    assert response.status_code == 503 and response.json()["status"] == "error"
    assert {queue["status"] for queue in response.json()["queues"].values()} == {"unknown"}
    assert set(response.json()["queues"]) == {"realtime", "celery", "bulk"}


def test_queues_are_ok_while_heartbeats_are_recent_and_a_late_one_is_named(client, db, settings):
    import datetime as dt

    from django.utils import timezone

    from common.models import Heartbeat
    from common.tasks import heartbeat_task

    for queue in ("realtime", "celery", "bulk"):
        heartbeat_task.apply(args=[queue])  # what a worker of that queue runs
    response = client.get("/healthz/queues")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    limit = response.json()["late_after_seconds"]
    assert limit == 3 * 60 + 60
    Heartbeat.objects.filter(queue="bulk").update(beat_at=timezone.now() - dt.timedelta(seconds=limit + 5))
    late = client.get("/healthz/queues")
    assert late.status_code == 503
    assert {name: queue["status"] for name, queue in late.json()["queues"].items()} == {
        "realtime": "ok", "celery": "ok", "bulk": "late"}  # fmt: skip
    assert late.json()["queues"]["bulk"]["seconds_since_heartbeat"] >= limit + 5
    settings.MOMENTS_BEAT_PERCENT = 5  # beat's intervals shortened: so is the patience
    assert client.get("/healthz/queues").json()["late_after_seconds"] == 3 * 3 + 60
