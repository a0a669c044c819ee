"""Configuration: malformed environment values stop startup with a message
that names the variable."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from moments_admin import env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value,expected", [("1", True), ("yes", True), ("off", False), ("", False)])
def test_booleans_accept_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("SOME_FLAG", value)
    assert env.env_bool("SOME_FLAG", not expected) is expected


def test_a_malformed_boolean_names_the_variable(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env.env_bool("SOME_FLAG", False)


def test_a_malformed_or_out_of_range_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("SOME_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER must be a whole number"):
        env.env_int("SOME_NUMBER", 1)
    monkeypatch.setenv("SOME_NUMBER", "-3")
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER must be at least 0"):
        env.env_int("SOME_NUMBER", 1, minimum=0)


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example.com, b.example.com ,")
    assert env.env_list("HOSTS", []) == ["a.example.com", "b.example.com"]


def test_a_required_variable_must_be_set(monkeypatch):
    monkeypatch.delenv("MUST_HAVE", raising=False)
    with pytest.raises(ImproperlyConfigured, match="MUST_HAVE is required"):
        env.env_str("MUST_HAVE")


def test_the_default_time_zone_is_shanghai_and_languages_are_chinese_and_english(settings):
    assert os.environ.get("TIME_ZONE", "Asia/Shanghai") == settings.TIME_ZONE
    assert [code for code, _ in settings.LANGUAGES] == ["zh-hans", "en"]
    assert "django.middleware.locale.LocaleMiddleware" in settings.MIDDLEWARE


def _start(tmp_path, settings_module="moments_admin.settings.base", code="", **overrides):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "ALLOWED_HOSTS", "WECOM_SANDBOX"}
    }
    environment.update(DJANGO_SETTINGS_MODULE=settings_module, MOMENTS_VAR_DIR=str(tmp_path), **overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "variable,value,message",
    [
        ("DATABASE_URL", "mysql://root@127.0.0.1/moments", "DATABASE_URL must point at PostgreSQL"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE must be an IANA time zone"),
        ("DEBUG", "sometimes", "DEBUG must be a boolean"),
        ("REDIS_URL", "127.0.0.1:6379", "REDIS_URL must start with redis://"),
        ("CELERY_BROKER_URL", "localhost", "CELERY_BROKER_URL must be a broker URL"),
        ("WECOM_AGENT_ID", "abc", "WECOM_AGENT_ID must be a whole number"),
        ("WECOM_ENCODING_AES_KEY", "short", "WECOM_ENCODING_AES_KEY must be the 43-character"),
        ("LANGUAGE_CODE", "fr", "LANGUAGE_CODE must be one of zh-hans, en"),
    ],
)
def test_startup_stops_on_a_malformed_value(tmp_path, variable, value, message):
    result = _start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_the_embedded_defaults_start_without_any_configuration(tmp_path):
    result = _start(tmp_path)
    assert result.returncode == 0, result.stderr


# What production requires besides its secrets (values are not connected to at start-up).
INFRASTRUCTURE = {
    "DATABASE_URL": "postgres://moments@127.0.0.1:5432/moments",
    "CELERY_BROKER_URL": "memory://",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "MOMENTS_PUBLIC_URL": "https://moments.example.com",
    "WECOM_AGENT_ID": "1000005",
}


def test_production_requires_its_infrastructure(tmp_path):
    started = _start(tmp_path, "moments_admin.settings.production", SECRET_KEY=secrets.token_urlsafe(50),
                     ALLOWED_HOSTS="moments.example.com", WECOM_CORP_ID="ww-corp", WECOM_SECRET="app-secret",
                     **{**INFRASTRUCTURE, "REDIS_URL": "", "MOMENTS_PUBLIC_URL": ""})  # fmt: skip
    assert started.returncode != 0
    assert "these environment variables are required" in started.stderr
    assert "REDIS_URL, MOMENTS_PUBLIC_URL" in started.stderr and "DATABASE_URL" not in started.stderr.splitlines()[-1]


def test_production_requires_a_secret_key_and_hosts(tmp_path):
    assert "SECRET_KEY is required" in _start(tmp_path, "moments_admin.settings.production").stderr
    key = secrets.token_urlsafe(50)
    assert "ALLOWED_HOSTS is required" in _start(tmp_path, "moments_admin.settings.production", SECRET_KEY=key).stderr
    started = _start(tmp_path, "moments_admin.settings.production", SECRET_KEY=key, ALLOWED_HOSTS="moments.example.com",
                     WECOM_CORP_ID="ww-corp", WECOM_SECRET="app-secret", **INFRASTRUCTURE)  # fmt: skip
    assert started.returncode == 0, started.stderr


def test_production_talks_to_wecom_itself(tmp_path):
    """Unset, every WeCom address is WeCom's own, not the sandbox's stand-ins."""
    show = "from django.conf import settings as s\nprint(s.WECOM_BASE_URL, s.WECOM_OAUTH_AUTHORIZE_URL)\n"
    show += "print(*s.WECOM_JSSDK_URLS)"
    started = _start(tmp_path, "moments_admin.settings.production", code=show,
                     SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="moments.example.com",
                     WECOM_CORP_ID="ww-corp", WECOM_SECRET="app-secret", **INFRASTRUCTURE)  # fmt: skip
    assert started.returncode == 0, started.stderr
    addresses = started.stdout.split()
    assert addresses[:2] == [
        "https://qyapi.weixin.qq.com/cgi-bin/",
        "https://open.weixin.qq.com/connect/oauth2/authorize",
    ]
    assert addresses[2:] and all(url.startswith("https://") and "sandbox" not in url for url in addresses[2:])


def test_production_refuses_the_sandbox(tmp_path):
    result = _start(
        tmp_path,
        "moments_admin.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="moments.example.com",
        WECOM_SANDBOX="1",
    )
    assert "sandbox cannot be enabled in production" in result.stderr


def test_an_empty_sandbox_callback_url_means_record_only(tmp_path):
    """Set but empty, the sandbox records its events without pushing them (the stack tests and the
    resilience bench rely on it); unset, it pushes to this app's callback."""
    show = "from django.conf import settings as s\nprint(repr(s.WECOM_SANDBOX_CALLBACK_URL))"
    empty = _start(tmp_path, code=show, WECOM_SANDBOX_CALLBACK_URL="")
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip() == "''"
    environment = {k: v for k, v in os.environ.items() if k != "WECOM_SANDBOX_CALLBACK_URL"}
    environment.update(DJANGO_SETTINGS_MODULE="moments_admin.settings.base", MOMENTS_VAR_DIR=str(tmp_path))
    command = [sys.executable, "-c", "import django; django.setup()\n" + show]
    unset = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert unset.returncode == 0, unset.stderr
    assert unset.stdout.strip().endswith("/wecom/callback/'")
