"""Shared set-up for benchmarks: a fresh PostgreSQL database and Django."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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
