"""Shared set-up for benchmarks: a fresh PostgreSQL database and Django."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/moments_bench"


def fresh_postgres_django() -> str:
    """Drop and create the bench database (BENCH_DATABASE_URL), point Django at
    it, migrate, and return its URL. Benchmarks measure PostgreSQL only."""
    import psycopg2

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        sys.exit(f"BENCH_DATABASE_URL must be a PostgreSQL URL, got {url!r}.")
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    try:
        connection = psycopg2.connect(admin_url, connect_timeout=5)
    except psycopg2.OperationalError as error:
        sys.exit(f"Benchmarks need PostgreSQL at {admin_url}: {error}")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()

    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moments_admin.settings.base")
    os.environ.setdefault("MOMENTS_VAR_DIR", str(ROOT / "var" / "bench"))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return url


def report(label: str, measured_s: float, baseline_label: str, baseline_s: float, rows: int) -> None:
    print(f"{label}: {measured_s:.2f} s, {rows / measured_s:,.0f} rows/s")
    print(f"{baseline_label}: {baseline_s:.2f} s, {rows / baseline_s:,.0f} rows/s")
    print(f"ratio (lower is better): {measured_s / baseline_s:.2f}× the baseline")


def size_arguments(parser, *, description: str) -> None:
    parser.description = description
    parser.add_argument("--associates", type=int, default=10_000)
    parser.add_argument("--contacts-per-associate", type=int, default=500)
    parser.add_argument("--smoke", action="store_true", help="tiny size (200 × 50), for CI")


def apply_smoke(args) -> None:
    if args.smoke:
        args.associates, args.contacts_per_associate = 200, 50


def copy_baseline(models) -> tuple[float, dict[str, int]]:
    """Copy these tables' rows out, empty the tables, and time a plain COPY of the
    same rows back into them (same indexes and constraints). ``models`` in load
    order (parents first). Returns (seconds, rows per table)."""
    import tempfile
    import time

    from django.db import connection

    tables = [model._meta.db_table for model in models]
    counts = {}
    with tempfile.TemporaryDirectory() as folder, connection.cursor() as cursor:
        for table in tables:
            with open(Path(folder) / table, "w") as out:
                cursor.copy_expert(f'COPY "{table}" TO STDOUT', out)
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in reversed(tables)) + " CASCADE")
        started = time.perf_counter()
        for table in tables:
            with open(Path(folder) / table) as source:
                cursor.copy_expert(f'COPY "{table}" FROM STDIN', source)
        return time.perf_counter() - started, counts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_sandbox(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "WECOM_SANDBOX": "1", "DEBUG": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "moments_admin.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "2", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.terminate()
    sys.exit("the sandbox server did not start")
