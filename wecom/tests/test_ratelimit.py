"""Token buckets: a burst, then waiting, then refusing to wait too long.
The Redis bucket runs against real Redis (CI sets REDIS_URL)."""

import os
import time
import uuid

import pytest
from django.conf import settings

from wecom.errors import RateLimited, TransientError
from wecom.ratelimit import ENDPOINT_BUDGETS, Budget, LocalTokenBucket, RedisTokenBucket


def _redis_bucket():
    if not settings.REDIS_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the Redis bucket: set REDIS_URL")
        pytest.skip("REDIS_URL is not set: the Redis token bucket runs in CI (make test with REDIS_URL)")
    import redis

    return RedisTokenBucket(redis.Redis.from_url(settings.REDIS_URL), prefix=f"test:{uuid.uuid4().hex}:")


@pytest.fixture(params=["local", "redis"])
def bucket(request):
    return LocalTokenBucket() if request.param == "local" else _redis_bucket()


def test_a_burst_passes_then_callers_wait_for_tokens(bucket):
    budget = Budget(rate=20.0, burst=3)
    started = time.monotonic()
    for _ in range(5):
        bucket.acquire("k", budget, max_wait=2)
    elapsed = time.monotonic() - started
    # 3 immediately, then 2 more at 20/s: about 0.1 s of waiting.
    assert 0.07 <= elapsed < 1.0


def test_it_refuses_rather_than_wait_too_long(bucket):
    budget = Budget.per_minute(1, burst=1)
    bucket.acquire("slow", budget)
    with pytest.raises(RateLimited) as caught:
        bucket.acquire("slow", budget, max_wait=0.2)
    assert isinstance(caught.value, TransientError)


def test_buckets_are_per_key(bucket):
    budget = Budget.per_minute(1, burst=1)
    bucket.acquire("a", budget)
    bucket.acquire("b", budget, max_wait=0)


def test_refill_makes_every_bucket_full_again(bucket):
    budget = Budget.per_minute(1, burst=1)
    bucket.acquire("a", budget)
    with pytest.raises(RateLimited):
        bucket.acquire("a", budget, max_wait=0)
    bucket.refill()
    bucket.acquire("a", budget, max_wait=0)


def test_two_redis_clients_share_one_bucket():
    first, second = _redis_bucket(), None
    import redis

    second = RedisTokenBucket(redis.Redis.from_url(settings.REDIS_URL), prefix=first._prefix)
    budget = Budget.per_minute(1, burst=1)
    first.acquire("shared", budget)
    with pytest.raises(RateLimited):
        second.acquire("shared", budget, max_wait=0.1)


def test_moment_creation_waits_six_seconds_between_tasks(bucket):
    """10 per minute with a burst of 1: no 60 s window can hold 11 creations."""
    budget = ENDPOINT_BUDGETS["externalcontact/add_moment_task"]
    bucket.acquire("moments", budget)
    with pytest.raises(RateLimited, match="needs 6.0s more|needs 5.9s more"):
        bucket.acquire("moments", budget, max_wait=1)
