"""Token buckets shared by every caller of the WeCom API.

WeCom's limits are per enterprise (and per member for app messages), not per
worker, so the bucket must be global: in Redis when configured (one atomic Lua
script: refill, then take), in process memory otherwise (the embedded setup).

``acquire`` waits for a token up to ``max_wait`` seconds and raises
``RateLimited`` (a transient error) rather than wait longer: a task would rather
be retried than hold a worker.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from wecom.errors import RateLimited


@dataclass(frozen=True)
class Budget:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: float

    @classmethod
    def per_minute(cls, count: float, *, burst: float | None = None) -> Budget:
        return cls(rate=count / 60.0, burst=burst if burst is not None else count)


# The documented limits (wecom-api.md §3.3 and §1.2).
# Base frequency: 10,000 per minute per enterprise per cgi. A bucket lets through at most
# ``burst + 60 × rate`` calls in any 60 s (sliding or fixed window alike): 9,700 here, a 3 %
# margin for the calls' spread in flight (a request taken now may land in WeCom's next window).
DEFAULT_BUDGET = Budget.per_minute(9_600, burst=100)
ENDPOINT_BUDGETS = {
    # 10 moment creations per minute per enterprise. A burst of 1 keeps any 60 s
    # window at 10 or fewer, which a burst of 10 would not.
    "externalcontact/add_moment_task": Budget.per_minute(10, burst=1),
    # gettoken is limited when called often; the token is cached, this is a floor.
    "gettoken": Budget.per_minute(60, burst=5),
}


class _TokenBucket:
    def _take(self, key: str, budget: Budget, cost: float) -> float:
        """Take ``cost`` tokens if available and return 0, else return the wait in seconds."""
        raise NotImplementedError

    def acquire(self, key: str, budget: Budget, *, cost: float = 1.0, max_wait: float = 5.0) -> None:
        deadline = time.monotonic() + max_wait
        while (wait := self._take(key, budget, cost)) > 0:
            if time.monotonic() + wait > deadline:
                raise RateLimited(None, f"rate limit: {key} needs {wait:.1f}s more", endpoint=key)
            time.sleep(wait)


class LocalTokenBucket(_TokenBucket):
    """In-process buckets (threads share them; processes do not)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def refill(self) -> None:
        """Every bucket full again, as after a quiet minute."""
        with self._lock:
            self._state.clear()

    def _take(self, key: str, budget: Budget, cost: float) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._state.get(key, (budget.burst, now))
            tokens = min(budget.burst, tokens + (now - stamp) * budget.rate)
            if tokens >= cost:
                self._state[key] = (tokens - cost, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (cost - tokens) / budget.rate


# KEYS[1] bucket; ARGV: rate/s, burst, cost, now (s). Returns the wait in ms (0 = taken).
_REDIS_TAKE = """
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local rate, burst, cost, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'stamp', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return math.ceil(wait * 1000)
"""


class RedisTokenBucket(_TokenBucket):
    """Buckets in Redis: every worker and web process draws from the same one.
    Time comes from the Redis server, so clocks of the workers do not matter."""

    PREFIX = "moments:ratelimit:"

    def __init__(self, client, *, prefix: str = PREFIX):
        self._redis = client
        self._prefix = prefix
        self._script = client.register_script(_REDIS_TAKE)

    def refill(self) -> None:
        """Every bucket full again, as after a quiet minute (their keys deleted)."""
        if keys := list(self._redis.scan_iter(match=f"{self._prefix}*", count=1000)):
            self._redis.delete(*keys)

    def _take(self, key: str, budget: Budget, cost: float) -> float:
        seconds, micros = self._redis.time()
        now = seconds + micros / 1_000_000
        wait_ms = self._script(keys=[self._prefix + key], args=[budget.rate, budget.burst, cost, now])
        return int(wait_ms) / 1000.0


class Unlimited:
    """No limit: for talking to our own sandbox (demo seeding, benchmarks), never to WeCom."""

    def acquire(self, key: str, budget: Budget, *, cost: float = 1.0, max_wait: float = 5.0) -> None:
        return None
