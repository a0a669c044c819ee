"""For bench/load.py: a small HTTP load generator, and the app as the benchmark serves it.

The generator is closed-loop: ``concurrency`` simulated clients on one asyncio loop, each
sending its next request as soon as the previous answer is read, over keep-alive HTTP/1.1
connections (a new one when the server closes it), for a fixed time. It is written on raw
asyncio streams rather than with an HTTP library (httpx, locust) because it shares the two
cores with the server: a request costs it tens of microseconds, so even the hello-world
baseline measures the server, not the client (its CPU time is printed beside the figures).

``wsgi_application()`` is the app with ``/bench-hello/`` in front of its URLs: a Django view
answering "hello" through the same middleware, the baseline served in the same run.

    gunicorn '_load:wsgi_application()' --pythonpath bench …
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field


# --- the server side ------------------------------------------------------------------------------
def hello(request):
    from django.http import HttpResponse

    return HttpResponse("hello")


urlpatterns: list = []  # filled by wsgi_application(): the real URLs behind /bench-hello/


def wsgi_application():
    """The real WSGI application, with this module as its URLconf: ``/bench-hello/``, then
    everything ``ROOT_URLCONF`` serves (set before the first request, in each worker)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moments_admin.settings.base")
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.urls import include, path

    application = get_wsgi_application()
    urlpatterns[:] = [path("bench-hello/", hello), path("", include(settings.ROOT_URLCONF))]
    settings.ROOT_URLCONF = __name__
    return application


# --- the client side ------------------------------------------------------------------------------
def http_get(path: str, *, host: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Accept: text/html", "Accept-Encoding: identity"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Result:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # of the answered requests, seconds
    statuses: Counter = field(default_factory=Counter)  # HTTP status → count; 0: no answer (connection error)
    client_cpu: float = 0.0  # this process's CPU seconds during the run

    @property
    def answered(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        """Requests without a 2xx answer."""
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)

    def percentile(self, share: float) -> float:
        """Nearest rank, seconds."""
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else float("nan")


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns (status, whether the connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].split(b"\r\n")
    status = int(status_line.split()[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    keep = headers.get(b"connection") != b"close"
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.read()  # until the server closes
        keep = False
    return status, keep


async def _client(host: str, port: int, requests, deadline: float, result: Result | None) -> None:
    reader = writer = None
    while time.perf_counter() < deadline:
        request = next(requests)
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            status, keep = await _answer(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            status, keep = 0, False
        if result is not None:
            result.statuses[status] += 1
            if status:
                result.latencies.append(time.perf_counter() - started)
        if not keep and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def load(host: str, port: int, requests: list[bytes], *, seconds: float, concurrency: int,
         warm_up: float = 0.0) -> Result:  # fmt: skip
    """``concurrency`` clients sending ``requests`` in turn (round-robin) for ``seconds``,
    after ``warm_up`` seconds not counted."""
    cycle = itertools.cycle(requests)

    async def run(duration: float, result: Result | None) -> None:
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(_client(host, port, cycle, deadline, result) for _ in range(concurrency)))

    if warm_up:
        asyncio.run(run(warm_up, None))
    result = Result()
    cpu, started = time.process_time(), time.perf_counter()
    asyncio.run(run(seconds, result))
    result.seconds = time.perf_counter() - started
    result.client_cpu = time.process_time() - cpu
    return result
