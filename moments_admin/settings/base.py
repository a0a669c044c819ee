"""Settings for Moments, read once from the environment (see README, Configuration).

Defaults need no external service: SQLite under ``var/``, kombu's filesystem
broker under ``var/``, a local-memory cache. Point ``DATABASE_URL``,
``CELERY_BROKER_URL`` and ``REDIS_URL`` at PostgreSQL and Redis for the real stack.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from django_guid.integrations import CeleryIntegration

from moments_admin.env import env_bool, env_choice, env_int, env_list, env_str, env_time_zone

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("MOMENTS_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret(name: str, make) -> str:
    """A per-checkout secret kept in var/, so the embedded setup needs no
    configuration and no secret is committed. Production requires them from the
    environment instead."""
    secret_file = VAR_DIR / name
    if not secret_file.exists():
        secret_file.write_text(make())
        secret_file.chmod(0o600)
    return secret_file.read_text().strip()


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "") or _local_secret("secret_key", lambda: secrets.token_urlsafe(50))
# Former keys, still accepted for signatures (associates' links, sessions) while a new key rolls out.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # django-unfold must come before django.contrib.admin to take over its templates.
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "django_guid",
    "axes",
    "django_celery_beat",
    "rest_framework",
    "rest_framework.authtoken",  # tokens for integrations (the admin makes them)
    "drf_spectacular",
    "common",  # domain-free: bulk loading, the queues' heartbeats
    "staff",
    "campaigns",
    "analytics",
    "wecom",
]

MIDDLEWARE = [
    "django_guid.middleware.guid_middleware",  # first: every later line of the request carries its id
    "django.middleware.security.SecurityMiddleware",
    "moments_admin.security.PolicyByPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # After the language is known (its 400 is translated), before any view: control characters refused.
    "common.input_guard.InputGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "moments_admin.urls"
WSGI_APPLICATION = "moments_admin.wsgi.application"
ASGI_APPLICATION = "moments_admin.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'moments.sqlite3'}")
try:
    _database = dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
except ValueError as error:
    raise ImproperlyConfigured(f"The environment variable DATABASE_URL is not a usable database URL: {error}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the Celery worker writes; IMMEDIATE takes
    # the write lock at BEGIN so concurrent writers wait instead of failing mid-way.
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif _database["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "The environment variable DATABASE_URL must point at PostgreSQL (postgres://…) or SQLite (sqlite:///…)."
    )
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (token cache and rate limits) -----------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    if urlsplit(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"The environment variable REDIS_URL must start with redis://, rediss:// or unix://, got {REDIS_URL!r}."
        )
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "moments"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "moments"}}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if "://" not in CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        f"The environment variable CELERY_BROKER_URL must be a broker URL such as redis://127.0.0.1:6379/1, "
        f"got {CELERY_BROKER_URL!r}."
    )
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: messages are files in one folder shared by the
    # web process, the worker and beat. Good for one machine, no server needed.
    _broker_dir = VAR_DIR / "celery" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "store_processed": False,
        # Broadcast (control) messages too, or kombu writes them to ./control.
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True  # results live in our tables, not in a result backend
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 150, minimum=1)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# When the broker connection is lost, stop the running late-ack tasks rather than ack them later on a dead
# channel (kombu can crash the worker doing that). Every task is idempotent; the reconciler re-queues the work.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Three queues, so that a heavy job never holds up a light one where the pools are split
# (docs/operations.md, "Workers"): "realtime" for callbacks (a welcome message's code is good for 20 s),
# the default "celery" for dispatch, notifications and the publish flow, "bulk" for the directory sync,
# results sync, roll-ups and forecasts. A worker started without -Q (make run, the tests) consumes all three.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {"realtime": {}, "celery": {}, "bulk": {}}
CELERY_TASK_ROUTES = {
    "staff.tasks.callback_event_apply_task": {"queue": "realtime"},
    "staff.tasks.callback_events_reconcile_task": {"queue": "realtime"},
    "staff.tasks.directory_sync_task": {"queue": "bulk"},
    "analytics.tasks.*": {"queue": "bulk"},
}
# A recorded callback whose job was lost (a broker restart) is queued again after this many seconds:
# longer than the job's own retries take (8, backing off to 5 min: about 23 min), so that a WeCom outage
# does not pile copies of each job onto the queue.
MOMENTS_CALLBACK_STALE_SECONDS = env_int("MOMENTS_CALLBACK_STALE_SECONDS", 1800, minimum=2)

# --- Auth -------------------------------------------------------------------
AUTH_USER_MODEL = "staff.User"
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"
AUTHENTICATION_BACKENDS = [
    # First: it refuses a locked-out (username, address) pair before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language and time --------------------------------------------------------
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LANGUAGE_CODE = env_choice("LANGUAGE_CODE", "zh-hans", [code for code, _name in LANGUAGES])
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_time_zone("TIME_ZONE", "Asia/Shanghai")
CELERY_TIMEZONE = TIME_ZONE
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
# Served by the app itself (django.views.static) in the embedded setup; production: by the reverse proxy.
MOMENTS_SERVE_MEDIA = env_bool("MOMENTS_SERVE_MEDIA", True)

# Serve straight from the app folders, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

# --- WeCom (the client and the sandbox arrive with the WeCom integration) ------
WECOM_SANDBOX = env_bool("WECOM_SANDBOX", True)
# The embedded default: the sandbox served by this very app (`make run` listens on MOMENTS_PORT).
_PORT = env_int("MOMENTS_PORT", 8000, minimum=1, maximum=65535)
# Where associates' phones reach this app: the links in their WeCom notifications start with it.
MOMENTS_PUBLIC_URL = env_str("MOMENTS_PUBLIC_URL", f"http://127.0.0.1:{_PORT}")
# No notification or reminder between these local hours (start, end); they wait for the morning.
MOMENTS_QUIET_START = env_int("MOMENTS_QUIET_START", 22, minimum=0, maximum=23)
MOMENTS_QUIET_END = env_int("MOMENTS_QUIET_END", 8, minimum=0, maximum=23)
# Reminders to associates who have not published: after this many hours, at most this many times.
MOMENTS_REMINDER_AFTER_HOURS = env_int("MOMENTS_REMINDER_AFTER_HOURS", 3, minimum=1, maximum=72)
MOMENTS_REMINDER_MAX = env_int("MOMENTS_REMINDER_MAX", 2, minimum=0, maximum=10)
# A notify claim older than this lost its worker: the reconciler gives it back, and re-queues the pending
# tasks of moments dispatched longer ago than this (their queued jobs were lost with a restarted broker).
# A re-sent card within 4 hours is suppressed by WeCom's duplicate check, so a short value costs no duplicate.
MOMENTS_STALE_CLAIM_SECONDS = env_int("MOMENTS_STALE_CLAIM_SECONDS", 600, minimum=2)
# The periodic entries' intervals in percent of their defaults (the tests of the real stack run them faster).
MOMENTS_BEAT_PERCENT = env_int("MOMENTS_BEAT_PERCENT", 100, minimum=1, maximum=1000)
WECOM_BASE_URL = env_str("WECOM_BASE_URL", f"http://127.0.0.1:{_PORT}/wecom-sandbox/cgi-bin/")
WECOM_CORP_ID = env_str("WECOM_CORP_ID", "ww-sandbox-corp")
WECOM_AGENT_ID = env_int("WECOM_AGENT_ID", 1000002, minimum=0)
WECOM_SECRET = env_str("WECOM_SECRET", "sandbox-secret")
# The JS-SDK scripts the associate's page loads inside the WeCom client (wx.agentConfig, then
# shareToExternalMoments). With the sandbox: its stand-in, served by this app.
WECOM_JSSDK_URLS = env_list("WECOM_JSSDK_URLS", ["/wecom-sandbox/jssdk.js"] if WECOM_SANDBOX else [
    "https://res.wx.qq.com/open/js/jweixin-1.2.0.js",
    "https://open.work.weixin.qq.com/wwopen/js/jwxwork-1.0.0.js",
])  # fmt: skip
# WeCom's web OAuth page (on open.weixin.qq.com, not the API host): inside the WeCom client the
# associate's page learns who opened it. With the sandbox: its stand-in, served by this app.
WECOM_OAUTH_AUTHORIZE_URL = env_str(
    "WECOM_OAUTH_AUTHORIZE_URL",
    "/wecom-sandbox/connect/oauth2/authorize"
    if WECOM_SANDBOX
    else "https://open.weixin.qq.com/connect/oauth2/authorize",
)
# Associates' links open only inside the WeCom client, where WeCom says who opened them. Off: a
# link opened in another browser acts for its associate (the link is the key; it expires with the moment).
MOMENTS_LINKS_WECOM_ONLY = env_bool("MOMENTS_LINKS_WECOM_ONLY", False)
# App messages sent per minute, all members together (WeCom's base frequency is 10,000 a minute per
# enterprise; a lower value spreads a large dispatch out). Per member the limits are fixed: 30/min, 1000/h.
WECOM_MESSAGE_SEND_PER_MINUTE = env_int("WECOM_MESSAGE_SEND_PER_MINUTE", 9000, minimum=60, maximum=10_000)
WECOM_CALLBACK_TOKEN = env_str("WECOM_CALLBACK_TOKEN", "sandbox-token")
# A callback's signed timestamp may be this many seconds from our clock, either way; older ones
# (replays, even validly signed) get 400 (docs/operations.md, "Callback freshness").
WECOM_CALLBACK_MAX_AGE_SECONDS = env_int("WECOM_CALLBACK_MAX_AGE_SECONDS", 300, minimum=1)
# The callback key: from the WeCom console in production; for the sandbox, one per checkout.
WECOM_ENCODING_AES_KEY = env_str("WECOM_ENCODING_AES_KEY", "") or (
    _local_secret("wecom_aes_key", lambda: secrets.token_urlsafe(40)[:43].replace("-", "a").replace("_", "b"))
    if WECOM_SANDBOX
    else ""
)
# WeCom's API does not say whether an account is verified; admins keep the flag.
# Associates that a sync creates start with this value.
WECOM_NEW_ASSOCIATES_VERIFIED = env_bool("WECOM_NEW_ASSOCIATES_VERIFIED", True)
if WECOM_ENCODING_AES_KEY and len(WECOM_ENCODING_AES_KEY) != 43:
    raise ImproperlyConfigured(
        "The environment variable WECOM_ENCODING_AES_KEY must be the 43-character EncodingAESKey "
        f"from the WeCom console, got {len(WECOM_ENCODING_AES_KEY)} characters."
    )

if WECOM_SANDBOX:
    INSTALLED_APPS.append("wecom.sandbox")
# The sandbox pushes its events (contact added or removed …) here, signed and
# encrypted like WeCom; set but empty: it records them without pushing (so not env_str, which reads
# an empty value as unset).
_CALLBACK_URL = os.environ.get("WECOM_SANDBOX_CALLBACK_URL")
WECOM_SANDBOX_CALLBACK_URL = (
    _CALLBACK_URL.strip()
    if _CALLBACK_URL is not None
    else WECOM_BASE_URL.replace("wecom-sandbox/cgi-bin/", "wecom/callback/")
)
# How long an add_moment_task job takes before get_moment_task_result says done.
WECOM_SANDBOX_JOB_SECONDS = env_int("WECOM_SANDBOX_JOB_SECONDS", 2, minimum=0)
# The demo's behaviour model (members publish their tasks, customers like): a beat entry each minute.
WECOM_SANDBOX_BEHAVIOUR = env_bool("WECOM_SANDBOX_BEHAVIOUR", True)
# WeCom's base frequency as the sandbox enforces it (wecom-api.md §3.3): per API, this many calls in each
# window of this many seconds, then 45009 until the window ends. 0: no limit.
WECOM_SANDBOX_CALLS_PER_WINDOW = env_int("WECOM_SANDBOX_CALLS_PER_WINDOW", 10_000, minimum=0)
WECOM_SANDBOX_WINDOW_SECONDS = env_int("WECOM_SANDBOX_WINDOW_SECONDS", 60, minimum=1)
# Member chunks the directory sync fetches at once (threads); the rate limiter keeps them all within
# WeCom's rate, and 45009/45033 make them pause.
WECOM_SYNC_CONCURRENCY = env_int("WECOM_SYNC_CONCURRENCY", 8, minimum=1, maximum=64)

# --- API (Django REST framework; schema by drf-spectacular) -------------------
REST_FRAMEWORK = {
    # The admin's users in their browser session (CSRF applies), and integrations with a token
    # ("Authorization: Token <key>"; tokens are made in the admin, one per user).
    # Token first: an unauthenticated request gets 401 with "WWW-Authenticate: Token".
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bodies are JSON (a form cannot carry the lists and nulls); only the media upload is multipart.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "moments_admin.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Moments API",
    "DESCRIPTION": "Draft WeCom Moments campaigns: campaigns, moments, variants, media, hashtags, calls to action "
    "and the approval workflow.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The errors every operation can answer, with their bodies, in one place (moments_admin.api).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "moments_admin.api.error_responses"],
    "ENUM_NAME_OVERRIDES": {
        "HashtagKindEnum": "campaigns.models.Hashtag.Kind",
        "CallToActionKindEnum": "campaigns.models.CallToAction.Kind",
        "PublishTaskStateEnum": "campaigns.models.PublishTask.State",
        "PlanStateEnum": "campaigns.models.State",
        "SyncRunStatusEnum": "staff.models.DirectorySyncRun.Status",
    },
}

# --- Security: Content Security Policy and login lockout -----------------------
# Our own pages (the associate's, the dashboards, the logins, /go/) run only our static files: no
# inline script or style, no eval. Data for scripts travels in json_script blocks
# (<script type="application/json">), which browsers do not run. The one foreign script is WeCom's
# JS-SDK on the associate's page: its origins (WECOM_JSSDK_URLS; with the sandbox, this app) are allowed.
_JSSDK_ORIGINS = sorted({f"{url.scheme}://{url.netloc}" for url in map(urlsplit, WECOM_JSSDK_URLS) if url.netloc})
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, *_JSSDK_ORIGINS],
        "style-src": [SELF],
        # Profile photos come from WeCom's image CDN (several hosts) and the JS-SDK reports by image
        # beacon: any HTTPS image. Images run no code.
        "img-src": [SELF, "data:", "https:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],  # as X-Frame-Options: DENY
    }
}
# Added to the policy under these path prefixes (moments_admin.security.PolicyByPathMiddleware).
# The Django admin's theme (django-unfold) writes inline scripts and styles and runs Alpine.js,
# which evaluates its attributes. The sandbox's control page (dev only) has an inline style.
CSP_UPDATES_BY_PATH = {"/admin/": {"script-src": [UNSAFE_INLINE, UNSAFE_EVAL], "style-src": [UNSAFE_INLINE]}}
if WECOM_SANDBOX:
    CSP_UPDATES_BY_PATH["/wecom-sandbox/"] = {"style-src": [UNSAFE_INLINE]}

# Failed logins (admin and dashboards: both Django's LoginView, which hands `request` to
# authenticate()) lock a (username, client address) pair for a cool-off: a password guesser is
# stopped, and someone else's typos elsewhere never lock a person out. The database handler: the
# count is shared by every web process and survives restarts, on SQLite as on PostgreSQL (the
# local-memory cache of the embedded setup would be per process). Failures during the cool-off
# do not extend it, so the page's "try again in N minutes" holds. Unlock early with
# `manage.py axes_reset_username <username>`.
AXES_ENABLED = True
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=24 * 60))
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "moments_admin.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "moments_admin.security.client_ip"
# Behind one reverse proxy, the client is the address it appends to X-Forwarded-For.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
# Only failures are kept (no log of every login), and not in the admin: the lockout is the point.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False  # its start-up banner in every process; lockouts are still logged (WARNING)

# --- Admin (django-unfold) ----------------------------------------------------
UNFOLD = {
    "SITE_TITLE": _("Moments"),
    "SITE_HEADER": _("Moments"),
    "SHOW_LANGUAGES": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "moments_admin.logs.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(task_name)s %(task_id)s]: %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(task_name)s %(task_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env_choice("LOG_FORMAT", "plain", ["plain", "json"]),
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR"])},
    # httpx logs each request's URL at INFO, and WeCom URLs carry the access token.
    # django_guid says at INFO, for every request, that it made an id (the id is on every line anyway);
    # django-axes, at every successful login, that it cleared the failures (lockouts are WARNINGs).
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# Request ids (django-guid): taken from the proxy's X-Request-ID when it is a UUID (nginx: $request_id),
# made otherwise, answered in the same header, and handed to the Celery tasks a request queues. Workers
# log through LOGGING above, so their lines carry the ids too (moments_admin.logs).
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "IGNORE_URLS": ["healthz", "healthz/queues"],
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True)],
}
