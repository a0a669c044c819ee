"""Production: the base settings, hardened. Adds no behaviour; requires secrets.

DJANGO_SETTINGS_MODULE=moments_admin.settings.production

Every secret comes from the environment, none has a default here: the Django key, WeCom's app
credentials and, when callbacks are on, their token. The sandbox (and its control plane, which can
act as any member and customer) cannot be turned on. moments_admin/tests/test_security.py holds
each of these to account, and `manage.py check --deploy` passes with no warning.
"""

import math
import os
from collections import Counter

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

from moments_admin.env import env_bool, env_int, env_list, env_str

# Django's own check (check --deploy, W009) asks for 50 characters of which 5 distinct; a 62-character key of 5
# repeated ones passes it and is guessable. On top of it: at least 192 bits by the key's own character
# frequencies (Shannon), and no key that repeats a shorter piece. secrets.token_urlsafe(50) has ~375 bits,
# Django's get_random_secret_key() ~250, a 64-character hex string (openssl rand -hex 32) ~245.
SECRET_KEY_MIN_BITS = 192


def _entropy_bits(key: str) -> float:
    counts = Counter(key)
    return -sum(n * math.log2(n / len(key)) for n in counts.values())


def _repeats(key: str) -> bool:
    """Whether ``key`` is a shorter piece written again and again (e.g. "abcde" × 13)."""
    return any(all(key[i] == key[i - p] for i in range(p, len(key))) for p in range(1, len(key) // 2 + 1))


def _refuse_weak_key(name: str, key: str) -> None:
    """Django's check (its length, distinct characters and prefix), with an entropy floor and no repetition."""
    if (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or key.startswith(SECRET_KEY_INSECURE_PREFIX)
        or _entropy_bits(key) < SECRET_KEY_MIN_BITS
        or _repeats(key)
    ):
        raise ImproperlyConfigured(
            f"The environment variable {name} must be a random string of at least {SECRET_KEY_MIN_LENGTH} "
            f"characters with at least {SECRET_KEY_MIN_BITS} bits of entropy (no repeated pattern), not starting "
            f"with '{SECRET_KEY_INSECURE_PREFIX}': make one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )


# Checked before base runs, so base never falls back to a generated key here.
_secret_key = env_str("SECRET_KEY")
_refuse_weak_key("SECRET_KEY", _secret_key)
for _fallback in env_list("SECRET_KEY_FALLBACKS", []):
    _refuse_weak_key("SECRET_KEY_FALLBACKS", _fallback)
if env_bool("WECOM_SANDBOX", False):
    raise ImproperlyConfigured("The WeCom sandbox cannot be enabled in production: unset WECOM_SANDBOX.")
# Base derives WeCom's addresses (JS-SDK, OAuth page, callback key) from this flag: WeCom's own here.
os.environ["WECOM_SANDBOX"] = "0"

from .base import *  # noqa: E402,F403

DEBUG = False
SECRET_KEY = _secret_key
WECOM_SANDBOX = False
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "wecom.sandbox"]  # noqa: F405
WECOM_BASE_URL = env_str("WECOM_BASE_URL", "https://qyapi.weixin.qq.com/cgi-bin/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("The environment variable ALLOWED_HOSTS is required in production (comma-separated).")
# Base's embedded defaults (SQLite, a filesystem broker, a per-process cache, a loopback address in
# links) suit one machine: in production each must be said.
_missing = [name for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "MOMENTS_PUBLIC_URL")
            if not os.environ.get(name, "").strip()]  # fmt: skip
if _missing:
    raise ImproperlyConfigured(
        f"In production these environment variables are required (base's embedded defaults are for one machine): "
        f"{', '.join(_missing)}."
    )
# The sandbox's corp, app and secret are base's defaults: WeCom's own are required here.
WECOM_CORP_ID = env_str("WECOM_CORP_ID")
WECOM_SECRET = env_str("WECOM_SECRET")
# The app's AgentId (the console, the app's page): base's default is the sandbox's, which WeCom refuses (40056).
if not os.environ.get("WECOM_AGENT_ID", "").strip():
    raise ImproperlyConfigured(
        "The environment variable WECOM_AGENT_ID is required in production: the AgentId of the self-built app "
        "in the WeCom console."
    )
# Callbacks need the token and the key together; without a key they answer 503 (staff.views).
WECOM_CALLBACK_TOKEN = env_str("WECOM_CALLBACK_TOKEN", "")
if WECOM_ENCODING_AES_KEY and not WECOM_CALLBACK_TOKEN:  # noqa: F405
    raise ImproperlyConfigured(
        "The environment variable WECOM_CALLBACK_TOKEN is required with WECOM_ENCODING_AES_KEY "
        "(both from the WeCom console's callback settings)."
    )

# The reverse proxy serves /media/ (docs/operations.md); MOMENTS_SERVE_MEDIA=1 lets gunicorn do it.
MOMENTS_SERVE_MEDIA = env_bool("MOMENTS_SERVE_MEDIA", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
# A load balancer's probe talks to gunicorn in plain HTTP: /healthz answers it instead of redirecting.
SECURE_REDIRECT_EXEMPT = [r"^healthz(/queues)?$"]
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_HTTPONLY = True

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
