"""Hostile bodies on /wecom/callback/ (issue 18): refused on size first, then by a hardened
parser, then on the signature over the raw Encrypt and the timestamp's freshness, always a
plain 4xx that records nothing; over real HTTP within time and memory bounds, and a good
signed callback is accepted right after."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from staff.models import CallbackEvent
from wecom.crypto import CallbackCrypto, signature

URL = "/wecom/callback/"
TWO_MB = 2 * 1024 * 1024
FROM_2001 = "1000000000"  # 2001-09-09, as in the finding
TIME_BOUND = 0.2  # seconds
MEMORY_BOUND_MB = 50


def _crypto() -> CallbackCrypto:
    return CallbackCrypto(token=settings.WECOM_CALLBACK_TOKEN, encoding_aes_key=settings.WECOM_ENCODING_AES_KEY,
                          receive_id=settings.WECOM_CORP_ID)  # fmt: skip


def _now() -> str:
    return str(int(time.time()))


def _event_xml(external_userid: str = "wm9") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{settings.WECOM_CORP_ID}]]></ToUserName><FromUserName>sys</FromUserName>"
        f"<CreateTime>{_now()}</CreateTime><MsgType>event</MsgType><Event>change_external_contact</Event>"
        f"<ChangeType>del_follow_user</ChangeType><UserID>lily</UserID><ExternalUserID>{external_userid}"
        "</ExternalUserID></xml>"
    )


def _signed(xml: str, *, timestamp: str | None = None) -> tuple[dict, bytes]:
    sent = _crypto().encrypt_message(xml, timestamp=timestamp or _now(), nonce="n0nce")
    return {key: sent[key] for key in ("msg_signature", "timestamp", "nonce")}, sent["body"].encode()


def _signed_over(encrypted: str, body: bytes, *, timestamp: str | None = None) -> tuple[dict, bytes]:
    """Query parameters that sign ``encrypted`` (what a naive parser would read from ``body``)."""
    timestamp = timestamp or _now()
    params = {"msg_signature": signature(settings.WECOM_CALLBACK_TOKEN, timestamp, "n", encrypted),
              "timestamp": timestamp, "nonce": "n"}  # fmt: skip
    return params, body


# --- hostile bodies, generated at test time ------------------------------------------------------
def _laughs(encoding: str, size: int = TWO_MB) -> bytes:
    """A "billion laughs" DTD padded with harmless entities to about ``size`` bytes once encoded."""
    chain = '<!ENTITY a0 "ha">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    unit = len("x".encode(encoding)) - len("".encode(encoding))
    padding_entity = '<!ENTITY p{} "' + "p" * 200 + '">'
    count = max(0, size // unit - len(chain)) // len(padding_entity.format(0))
    padding = "".join(padding_entity.format(i) for i in range(count))
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE xml [{chain}{padding}]>'
        "<xml><ToUserName>x</ToUserName><Encrypt>&a9;</Encrypt></xml>"
    )
    return text.encode(encoding)


def _declared(encoding: str) -> bytes:
    return f'<?xml version="1.0" encoding="{encoding}"?><xml><Encrypt>QUFB</Encrypt></xml>'.encode()


def _other_corp(xml: str) -> tuple[dict, bytes]:
    other = CallbackCrypto(token=settings.WECOM_CALLBACK_TOKEN, encoding_aes_key=settings.WECOM_ENCODING_AES_KEY,
                           receive_id="ww-another-corp")  # fmt: skip
    sent = other.encrypt_message(xml, timestamp=_now(), nonce="n0nce")
    return {key: sent[key] for key in ("msg_signature", "timestamp", "nonce")}, sent["body"].encode()


def _unsigned(body: bytes) -> tuple[dict, bytes]:
    return {"msg_signature": "0" * 40, "timestamp": _now(), "nonce": "n"}, body


# name: (query parameters, body); the bodies are built when a test asks for them
HOSTILE = {
    "billion-laughs-utf-16": lambda: _signed_over("", _laughs("utf-16")),
    "billion-laughs-utf-16-le-no-bom": lambda: _signed_over("", _laughs("utf-16-le")),
    "billion-laughs-utf-32": lambda: _signed_over("", _laughs("utf-32")),
    "billion-laughs-utf-8": lambda: _signed_over("", _laughs("utf-8")),
    "gbk": lambda: _signed_over("QUFB", _declared("gbk")),
    "shift_jis": lambda: _signed_over("QUFB", _declared("shift_jis")),
    "big5": lambda: _signed_over("QUFB", _declared("big5")),
    "utf-16-declared": lambda: _signed_over("QUFB", _declared("utf-16")),
    "deep": lambda: _unsigned(b"<xml>" + b"<a>" * (TWO_MB // 7) + b"</a>" * (TWO_MB // 7) + b"</xml>"),
    "wide": lambda: _unsigned(b"<xml>" + b"<F>x</F>" * (TWO_MB // 8) + b"</xml>"),
    "attributes": lambda: _unsigned(b"<xml " + b"a=''" * (TWO_MB // 4) + b"><Encrypt>QUFB</Encrypt></xml>"),
    "huge-unsigned-encrypt": lambda: _unsigned(b"<xml><Encrypt>" + b"A" * TWO_MB + b"</Encrypt></xml>"),
    "signed-bad-base64": lambda: _signed_over("!!not-base64!!", b"<xml><Encrypt>!!not-base64!!</Encrypt></xml>"),
    "signed-wrong-corp": lambda: _other_corp(_event_xml()),
    "signed-from-2001": lambda: _signed(_event_xml(), timestamp=FROM_2001),
    "over-the-size-cap": lambda: _unsigned(
        b"<xml><Encrypt>" + b"A" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b"</Encrypt></xml>"
    ),  # fmt: skip
    "not-xml": lambda: _unsigned(b"\xff\xfe\x00garbage"),
}


# --- through Django's test client: plain 400s, never a 500 -----------------------------------------
@pytest.mark.parametrize("name", HOSTILE, ids=HOSTILE)
def test_it_answers_a_plain_4xx_to_a_hostile_body_and_records_nothing(client, db, name):
    params, body = HOSTILE[name]()
    response = client.post(URL, query_params=params, data=body, content_type="text/xml")
    assert response.status_code in {400, 403, 413}, response.content[:300]
    assert response["Content-Type"].startswith("text/plain") and len(response.content) < 200
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize("encoding", ["gbk", "shift_jis", "big5", "utf-16"])
def test_it_answers_400_to_a_multi_byte_encoding_declaration(client, db, encoding):
    params, body = _signed_over("QUFB", _declared(encoding))
    response = client.post(URL, query_params=params, data=body, content_type="text/xml")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")


def test_it_answers_400_to_a_utf16_billion_laughs(client, db):
    params, body = _signed_over("", _laughs("utf-16", size=64 * 1024))
    assert client.post(URL, query_params=params, data=body, content_type="text/xml").status_code == 400


def test_it_refuses_a_validly_signed_callback_from_2001(client, db):
    params, body = _signed(_event_xml(), timestamp=FROM_2001)
    response = client.post(URL, query_params=params, data=body, content_type="text/xml")
    assert response.status_code == 400 and not CallbackEvent.objects.exists()


def test_it_refuses_a_validly_signed_url_verification_from_2001(client, db):
    echo = _crypto().encrypt("5927782489442352469")
    params = {"msg_signature": signature(settings.WECOM_CALLBACK_TOKEN, FROM_2001, "n", echo),
              "timestamp": FROM_2001, "nonce": "n", "echostr": echo}  # fmt: skip
    response = client.get(URL, params)
    assert response.status_code == 400 and b"5927782489442352469" not in response.content


@pytest.mark.parametrize("offset,status", [(-50, 200), (50, 200), (-70, 400), (70, 400)])
def test_it_follows_the_freshness_setting_either_way(client, db, settings, offset, status):
    settings.WECOM_CALLBACK_MAX_AGE_SECONDS = 60
    params, body = _signed(_event_xml(), timestamp=str(int(time.time()) + offset))
    assert client.post(URL, query_params=params, data=body, content_type="text/xml").status_code == status


def test_it_refuses_a_body_over_the_request_cap_before_reading_it(client, db, settings, monkeypatch):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256
    params, body = _signed(_event_xml())
    assert len(body) > 256
    monkeypatch.setattr("staff.views.CallbackCrypto.decrypt_message", lambda *a, **k: pytest.fail("read the body"))
    response = client.post(URL, query_params=params, data=body, content_type="text/xml")
    assert response.status_code == 413 and response["Content-Type"].startswith("text/plain")


def test_it_answers_in_chinese_by_default(client, db):
    params, body = _unsigned(b"<xml><Encrypt>QUFB</Encrypt></xml>")
    response = client.post(URL, query_params=params, data=body, content_type="text/xml")
    assert response.status_code == 403 and response.content.decode() == "签名不匹配。"


# --- over real HTTP: time and memory bounds ------------------------------------------------------
def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class _PeakRss:
    """The live server runs in this process: sample its resident size while a request runs."""

    def __init__(self):
        self.peak = self.baseline = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            self._stop.wait(0.002)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.baseline


@pytest.fixture
def http(live_server, monkeypatch):
    from staff.tasks import callback_event_apply_task

    monkeypatch.setattr(callback_event_apply_task, "delay", lambda event_id: None)  # no broker in this test
    with httpx.Client(base_url=live_server.url, timeout=10) as session:
        params, body = _signed(_event_xml("wm-warm-up"))  # imports, translations, the first connection
        assert session.post(URL, params=params, content=body, headers={"Content-Type": "text/xml"}).status_code == 200
        yield session


def _post(session: httpx.Client, params: dict, body: bytes) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = session.post(URL, params=params, content=body, headers={"Content-Type": "text/xml"})
    return response, time.perf_counter() - started


@pytest.mark.parametrize("name", HOSTILE, ids=HOSTILE)
def test_it_answers_a_hostile_body_over_http_quickly_without_growing(http, name):
    params, body = HOSTILE[name]()
    recorded = CallbackEvent.objects.count()
    with _PeakRss() as rss:
        response, elapsed = _post(http, params, body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert elapsed < TIME_BOUND, f"{name}: {elapsed * 1000:.0f} ms"
    assert rss.growth < MEMORY_BOUND_MB, f"{name}: the server grew by {rss.growth:.0f} MB"
    assert CallbackEvent.objects.count() == recorded
    params, body = _signed(_event_xml(f"wm-after-{name}"))
    assert _post(http, params, body)[0].status_code == 200, "a good callback right after"
    assert CallbackEvent.objects.count() == recorded + 1


def test_it_answers_a_2mb_utf16_billion_laughs_over_http_in_bounds(http):
    params, body = _signed_over("", _laughs("utf-16"))
    assert len(body) >= TWO_MB * 0.95
    with _PeakRss() as rss:
        timings = [_post(http, params, body) for _ in range(8)]
    assert {response.status_code for response, _ in timings} == {400}
    assert max(elapsed for _, elapsed in timings) < TIME_BOUND
    assert rss.growth < MEMORY_BOUND_MB
    params, body = _signed(_event_xml("wm-after-laughs"))
    assert _post(http, params, body)[0].status_code == 200


def test_it_answers_403_not_500_to_a_non_ascii_signature(client, db):
    params, body = _signed(_event_xml())
    response = client.post(URL, query_params={**params, "msg_signature": "签名"}, data=body, content_type="text/xml")
    assert response.status_code == 403 and not CallbackEvent.objects.exists()
