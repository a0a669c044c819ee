"""Production's secret check (issue #18): SECRET_KEY (and each of SECRET_KEY_FALLBACKS) must pass
Django's own check (check --deploy's W009: 50 characters, 5 distinct, no 'django-insecure-' prefix)
and have more entropy than that minimum (192 bits by its own character frequencies, and no
repeated pattern); production refuses to start otherwise, naming the variable. A 62-character key
of 5 distinct characters passed before."""

from __future__ import annotations

import json
import random
import secrets
import string

import pytest
from django.core.management.utils import get_random_secret_key

from moments_admin.tests.test_security import LOAD_EACH, PRODUCTION, _run

FIVE_DISTINCT = ("abcde" * 13)[:62]
NINETEEN_DISTINCT = (string.ascii_lowercase[:19] * 4)[:64]  # a repeated pattern
EIGHT_SYMBOLS = "".join(random.Random(8).choice("abcdefgh") for _ in range(60))
REFUSED = {
    "five-distinct-characters": ({"SECRET_KEY": FIVE_DISTINCT}, "SECRET_KEY"),
    "nineteen-distinct-characters": ({"SECRET_KEY": NINETEEN_DISTINCT}, "SECRET_KEY"),
    "django-insecure-prefix": ({"SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(50)}, "SECRET_KEY"),
    "eight-symbols": ({"SECRET_KEY": EIGHT_SYMBOLS}, "SECRET_KEY"),  # 60 characters, at most 180 bits
    "weak-fallback": ({"SECRET_KEY_FALLBACKS": f"{secrets.token_urlsafe(50)},{FIVE_DISTINCT}"}, "SECRET_KEY_FALLBACKS"),
}
LOADED = {
    "random-key": {"SECRET_KEY": secrets.token_urlsafe(50)},
    "hex-key": {"SECRET_KEY": secrets.token_hex(32)},  # openssl rand -hex 32: 16 symbols, 64 of them
    "djangos-own-key": {"SECRET_KEY": get_random_secret_key()},
    "random-fallbacks": {"SECRET_KEY_FALLBACKS": f"{secrets.token_urlsafe(50)},{get_random_secret_key()}"},
}


@pytest.fixture(scope="module")
def loads(tmp_path_factory):
    cases = {name: change for name, (change, _variable) in REFUSED.items()} | LOADED
    loaded = _run(tmp_path_factory.mktemp("var"), ["-c", LOAD_EACH, json.dumps(cases)], **PRODUCTION)
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout.splitlines()[-1])


@pytest.mark.parametrize("case", list(REFUSED))
def test_it_refuses_to_start_with_a_guessable_secret_key(loads, case):
    refusal = loads[case].get("refused", "")
    variable = REFUSED[case][1]
    assert f"The environment variable {variable} must be a random string of at least 50 characters" in refusal
    assert "192 bits of entropy" in refusal and "django-insecure-" in refusal


@pytest.mark.parametrize("case", list(LOADED))
def test_it_starts_with_a_random_key(loads, case):
    assert "refused" not in loads[case], loads[case]
