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
COPY_CHUNK = 1 << 20  # bytes per copy.write() in copy_baseline


def fresh_postgres_django() -> str:
    """Drop and create the bench database (BENCH_DATABASE_URL), point Django at
    it, migrate, and return its URL. Benchmarks measure PostgreSQL only."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    database_recreate(url)

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
            with open(Path(folder) / table, "wb") as out, cursor.copy(f'COPY "{table}" TO STDOUT') as copy:
                for data in copy:
                    out.write(data)
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in reversed(tables)) + " CASCADE")
        started = time.perf_counter()
        for table in tables:
            with open(Path(folder) / table, "rb") as source, cursor.copy(f'COPY "{table}" FROM STDIN') as copy:
                while data := source.read(COPY_CHUNK):
                    copy.write(data)
        return time.perf_counter() - started, counts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_sandbox(url: str, port: int, *, threads: int = 2) -> subprocess.Popen:
    """gunicorn serving the sandbox: 2 workers (the cores), ``threads`` each (calls waiting on
    PostgreSQL overlap)."""
    env = {**os.environ, "DATABASE_URL": url, "WECOM_SANDBOX": "1", "DEBUG": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "moments_admin.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", str(threads), "--log-level", "warning"],
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


# --- a brand's world, built in the database (bench/forecast.py, bench/ingest.py) -------------------
FIRST_DAY = "2027-02-10"  # the campaign's first local day (Asia/Shanghai)
CAMPAIGN_DAYS = 5
MOMENT_HOURS = (10, 20)  # two moments a day, local time


def step(label: str):
    """A context manager printing ``label … 12.3 s`` around a long step."""
    import contextlib

    @contextlib.contextmanager
    def timed():
        print(f"  {label} …", end="", flush=True)
        started = time.perf_counter()
        yield
        print(f" {time.perf_counter() - started:.1f} s", flush=True)

    return timed()


def world_build(associates: int, contacts_per_associate: int) -> dict[str, int]:
    """The directory of a large brand, set-based (``INSERT … SELECT generate_series``):

    - departments: the brand (top), one region per 500 associates, one store per 20;
    - associates: one store each; every 10th unverified, every 200th left the company;
    - customers: 80% of an associate's contacts are their own customers, 20% come from a
      shared pool about a third that size (a shared customer follows ~3 associates);
      ``external_userid`` is ``wm`` + an md5, like WeCom's (random order in its index);
    - contacts: added at pseudo-random times over a year (the 200 earliest-added are not
      the first ids); every 50th removed (inactive);
    - customer tags: a tier group (gold 10%, silver 30%, one per contact at most) and an
      interest tag (rose, 20%), on the contacts.

    Returns row counts per table. Primary keys are explicit; sequences are reset and the
    tables analysed afterwards."""
    from django.db import connection

    from common.bulk import analyze, reset_sequences
    from staff import models as staff

    a_count, per = associates, contacts_per_associate
    regions, stores = max(1, a_count // 500), max(1, a_count // 20)
    shared_per = per // 5
    own_per = per - shared_per
    own_total = a_count * own_per
    pool = max(shared_per + 1, a_count * shared_per // 3)
    models = [staff.Department, staff.Associate, staff.AssociateDepartment, staff.Customer, staff.Contact,
              staff.CustomerTagGroup, staff.CustomerTag, staff.ContactTag]  # fmt: skip
    t = {m.__name__: m._meta.db_table for m in models}
    statements = [
        (
            "departments",
            [
                f'INSERT INTO {t["Department"]} (id, wecom_id, name, kind, "order", path, parent_id) '
                f"VALUES (1, 1, 'Brand', 'hq', 0, '/1/', NULL)",
                f'INSERT INTO {t["Department"]} (id, wecom_id, name, kind, "order", path, parent_id) '
                f"SELECT 1 + r, 1 + r, 'Region ' || r, 'region', r, '/1/' || (1 + r) || '/', 1 "
                f"FROM generate_series(1, {regions}) r",
                f'INSERT INTO {t["Department"]} (id, wecom_id, name, kind, "order", path, parent_id) '
                f"SELECT 1 + {regions} + s, 1 + {regions} + s, 'Store ' || s, 'store', s, "
                f"'/1/' || (2 + s % {regions}) || '/' || (1 + {regions} + s) || '/', 2 + s % {regions} "
                f"FROM generate_series(1, {stores}) s",
            ],
        ),
        (
            "associates",
            [
                f"INSERT INTO {t['Associate']} (id, userid, name, avatar, position, is_verified, is_active, "
                f"deactivated_at, created_at, updated_at, main_department_id) "
                f"SELECT a, 'bench-' || a, 'Associate ' || a, '', '', a % 10 <> 0, a % 200 <> 7, "
                f"CASE WHEN a % 200 = 7 THEN now() END, now(), now(), 2 + {regions} + (a - 1) % {stores} "
                f"FROM generate_series(1, {a_count}) a",
                f"INSERT INTO {t['AssociateDepartment']} (id, associate_id, department_id) "
                f"SELECT a, a, 2 + {regions} + (a - 1) % {stores} FROM generate_series(1, {a_count}) a",
            ],
        ),
        (
            "customers",
            [
                f"INSERT INTO {t['Customer']} (id, external_userid, name, type, gender, avatar, corp_name, created_at) "
                f"SELECT c, 'wm' || md5(c::text), 'Customer ' || c, 1, c % 3, '', '', now() "
                f"FROM generate_series(1, {own_total + pool}) c",
            ],
        ),
        (
            "contacts",
            [
                # contact id = (a - 1) * per + k + 1; the first own_per are a's own customers, the rest from the pool
                f"INSERT INTO {t['Contact']} (id, associate_id, customer_id, added_at, remark, description, add_way, "
                f"state, is_active, removed_at) "
                f"SELECT (a - 1) * {per} + k + 1, a, "
                f"CASE WHEN k < {own_per} THEN (a - 1) * {own_per} + k + 1 "
                f"ELSE {own_total} + 1 + ((a - 1) * 7919 + k - {own_per}) % {pool} END, "
                f"timestamptz '2026-01-01 00:00:00+08' + make_interval(secs => (((a - 1) * {per} + k + 1) "
                f"* 2654435761::bigint) % 31536000), '', '', 1, '', ((a - 1) * {per} + k + 1) % 50 <> 0, "
                f"CASE WHEN ((a - 1) * {per} + k + 1) % 50 = 0 THEN now() END "
                f"FROM generate_series(1, {a_count}) a, generate_series(0, {per - 1}) k",
            ],
        ),
        (
            "tags",
            [
                f'INSERT INTO {t["CustomerTagGroup"]} (id, group_id, name, "order", is_tier, is_deleted) '
                f"VALUES (1, 'etg-tier', 'Tier', 0, true, false), (2, 'etg-interest', 'Interest', 1, false, false)",
                f'INSERT INTO {t["CustomerTag"]} (id, tag_id, group_id, name, "order", is_deleted) '
                f"VALUES (1, 'et-gold', 1, 'gold', 0, false), (2, 'et-silver', 1, 'silver', 1, false), "
                f"(3, 'et-rose', 2, 'rose', 0, false)",
                # tier by the contact id's last digit (gold 10%, silver 30%), rose by the next one (20%)
                f"INSERT INTO {t['ContactTag']} (contact_id, tag_id) "
                f"SELECT id, CASE WHEN id % 10 = 7 THEN 1 ELSE 2 END FROM {t['Contact']} WHERE id % 10 IN (1, 4, 7, 8) "
                f"UNION ALL SELECT id, 3 FROM {t['Contact']} WHERE (id / 10) % 5 = 2",
            ],
        ),
    ]
    with connection.cursor() as cursor:
        for label, sqls in statements:
            with step(f"world: {label}"):
                for sql in sqls:
                    cursor.execute(sql)
    with step("world: sequences, analyze"):
        reset_sequences(models)
        analyze(models)
    return {m._meta.db_table: m.objects.count() for m in models}


def campaign_build(*, personal_posters_every: int = 0) -> dict:
    """The campaign under test: 5 days × 2 moments (10:00 and 20:00), approved, for the whole
    brand (the top department): one variant for all contacts per moment, and a gold-tier
    variant next to it in the evening. Around it, another campaign's approved moment on the
    third day at 09:00 (the rose-tagged customers of the first region), and, when
    ``personal_posters_every`` is N > 0, two personal posts on the first day at 08:00 and
    08:30 by every Nth associate to all their active contacts (Post + Delivery rows, as
    results sync would have stored them). Returns {"campaign", "moments", "other", "days"}."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from analytics.models import Delivery, Post
    from campaigns import versions
    from campaigns.models import Campaign, Moment, State, Tone, Variant
    from common.bulk import analyze
    from staff.models import Associate, Contact, CustomerTag, Department, User

    zone = timezone.get_current_timezone()
    first = dt.date.fromisoformat(FIRST_DAY)
    days = [first + dt.timedelta(days=d) for d in range(CAMPAIGN_DAYS)]
    owner = User.objects.create_user("bench-planner")
    tone = Tone.objects.get(code="warm")
    top = Department.objects.get(parent__isnull=True)
    gold, rose = CustomerTag.objects.get(tag_id="et-gold"), CustomerTag.objects.get(tag_id="et-rose")

    def moment_add(campaign, day, hour, variants):
        at = dt.datetime.combine(day, dt.time(hour), tzinfo=zone)
        moment = Moment.objects.create(campaign=campaign, title=f"{day} {hour}:00", publish_at=at,
                                       expires_at=at + dt.timedelta(hours=6), state=State.APPROVED)  # fmt: skip
        for position, (name, tags, departments) in enumerate(variants):
            variant = Variant.objects.create(moment=moment, name=name, tone=tone, copy="玫瑰系列上新",
                                             position=position, audience_all=not tags)  # fmt: skip
            variant.audience_tags.set(tags)
            variant.target_departments.set(departments)
        # Approved as built: its variants' versions are the approved ones (campaigns.versions), as the workflow
        # would leave them, so dispatch can make its tasks.
        for version in versions.moment_versions_make(moment, by=None):
            Variant.objects.filter(pk=version.variant_id).update(approved_version=version)
        return moment

    campaign = Campaign.objects.create(name="情人节 bench", starts_on=days[0], ends_on=days[-1], owner=owner,
                                       state=State.APPROVED)  # fmt: skip
    moments = [
        moment_add(
            campaign, day, hour, [("全部客户", [], [top])] + ([("金卡会员", [gold], [top])] if hour == 20 else [])
        )
        for day in days
        for hour in MOMENT_HOURS
    ]
    other_campaign = Campaign.objects.create(name="other bench", starts_on=days[2], ends_on=days[2], owner=owner,
                                             state=State.APPROVED)  # fmt: skip
    region = Department.objects.filter(parent=top).order_by("id").first()
    other = moment_add(other_campaign, days[2], 9, [("玫瑰", [rose], [region])])

    if personal_posters_every:
        n = personal_posters_every
        post, delivery = Post._meta.db_table, Delivery._meta.db_table
        associate, contact = Associate._meta.db_table, Contact._meta.db_table
        with connection.cursor() as cursor:
            for index, (hour, minute) in enumerate(((8, 0), (8, 30))):
                at = dt.datetime.combine(days[0], dt.time(hour, minute), tzinfo=zone)
                cursor.execute(
                    f"INSERT INTO {post} (wecom_moment_id, kind, created_at, text, synced_at, creator_id, moment_id) "
                    f"SELECT 'personal-' || id || '-{index}', 1, %s, 'my own post', %s, id, NULL FROM {associate} "
                    f"WHERE id %% {n} = 3",
                    [at, at],
                )
            cursor.execute(
                f"INSERT INTO {delivery} (post_id, moment_id, associate_id, customer_id, day) "
                f"SELECT p.id, NULL, c.associate_id, c.customer_id, %s FROM {post} p "
                f"JOIN {contact} c ON c.associate_id = p.creator_id AND c.is_active WHERE p.kind = 1",
                [days[0]],
            )
        analyze([Post, Delivery])
    return {"campaign": campaign, "moments": moments, "other": other, "days": days}


# --- databases and servers of our own (bench/resilience.py, bench/load.py) ------------------------------
def database_recreate(url: str) -> None:
    """Drop and create the PostgreSQL database named in ``url`` (its server must be up)."""
    import psycopg

    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        sys.exit(f"Benchmarks measure PostgreSQL only: {url!r} is not a PostgreSQL URL.")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    try:
        connection = psycopg.connect(admin_url, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as error:
        sys.exit(f"Benchmarks need PostgreSQL at {admin_url}: {error}")
    name = parts.path.lstrip("/")
    with connection, connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')


def manage(*argv: str, env: dict[str, str]) -> None:
    """``manage.py`` in a subprocess with its own environment (another database)."""
    subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env={**os.environ, **env}, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


class PrivatePostgres:
    """A PostgreSQL cluster of our own (``initdb`` in ``directory``, a free port on loopback,
    default settings), to stop and restart without disturbing anyone else's databases. As
    root, the server runs as the ``postgres`` user (PostgreSQL refuses root)."""

    def __init__(self, directory: Path):
        import glob
        import shutil

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
        found = shutil.which("pg_ctl")
        self.bindir = Path(bins[-1]) if bins else Path(found).parent if found else None
        self.directory = directory
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0

    def missing(self) -> str:
        """Why no private cluster can run here ('' when it can)."""
        if self.bindir is None or not (self.bindir / "initdb").exists():
            return "needs PostgreSQL's server binaries (initdb, pg_ctl: apt-get install postgresql)"
        return ""

    def _run(self, tool: str, *argv: str) -> None:
        command = [str(self.bindir / tool), *argv]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def start(self) -> None:
        import shutil

        data = self.directory / "data"
        if not data.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            if self.as_postgres:
                shutil.chown(self.directory, "postgres")
            self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-instructions")
        self._run("pg_ctl", "-D", str(data), "-l", str(self.directory / "server.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast``: every connection is cut, as a restart by the operator does; ``immediate``: a crash."""
        if (self.directory / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


def gunicorn_start(*, port: int, env: dict[str, str], app: str = "moments_admin.wsgi", workers: int = 2,
                   threads: int = 4, log: Path | None = None) -> subprocess.Popen:  # fmt: skip
    """gunicorn on loopback as the Procfile's ``web`` runs it (``workers`` × ``threads``), with
    ``env`` added to this process's environment; returns once it answers HTTP."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--threads", str(threads), "--timeout", "60", "--log-level", "warning", "--pythonpath", str(ROOT / "bench")],
        cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.kill()
    sys.exit(f"gunicorn did not start on port {port}" + (f" (see {log})" if log else ""))


def machine() -> str:
    """Cores and load average: whether something else was running beside a benchmark."""
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.1f} {five:.1f} {fifteen:.1f} (1, 5, 15 min)"
