"""Hostile callback bodies against the crypto layer: the envelope is read by a hardened parser
(no DTD or entities whatever the encoding, UTF-8 only, flat and small), the signature is checked
over the raw Encrypt before anything is decrypted, and the timestamp must be fresh."""

from __future__ import annotations

import pytest

from wecom.crypto import CallbackCrypto, CallbackCryptoError, envelope_encrypted, signature, xml_fields

TOKEN = "QDG6eK"
CORP_ID = "wx5823bf96d3bd56c7"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
NOW = 1_760_000_000


def _crypto(max_age: int | None = 300, now: float = NOW) -> CallbackCrypto:
    return CallbackCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID, max_age=max_age,
                          clock=lambda: now)  # fmt: skip


def _laughs(encoding: str, depth: int = 10) -> bytes:
    entities = '<!ENTITY a0 "ha">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, depth))
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE xml [{entities}]>'
        f"<xml><Encrypt>&a{depth - 1};</Encrypt></xml>"
    )
    return text.encode(encoding)


def _declared(encoding: str) -> bytes:
    return f'<?xml version="1.0" encoding="{encoding}"?><xml><Encrypt>QUFB</Encrypt></xml>'.encode()


HOSTILE_ENVELOPES = {
    "billion-laughs-utf-16": _laughs("utf-16"),
    "billion-laughs-utf-16-le-no-bom": _laughs("utf-16-le"),
    "billion-laughs-utf-32": _laughs("utf-32"),
    "billion-laughs-utf-8": _laughs("utf-8"),
    "dtd-entity-utf-16": '<!DOCTYPE x [<!ENTITY a "QUFB">]><xml><Encrypt>&a;</Encrypt></xml>'.encode("utf-16"),
    "external-entity": b'<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><xml><Encrypt>&a;</Encrypt></xml>',
    "doctype-only": b"<!DOCTYPE xml><xml><Encrypt>QUFB</Encrypt></xml>",
    "gbk": _declared("gbk"),
    "shift_jis": _declared("shift_jis"),
    "big5": _declared("big5"),
    "utf-16-declared-in-ascii": _declared("utf-16"),
    "unknown-encoding": _declared("no-such-encoding"),
    "latin-1": _declared("iso-8859-1"),
    "not-utf-8-bytes": b"<xml><Encrypt>\xff\xfe</Encrypt></xml>",
    "nul-byte": b"<xml><Encrypt>QUFB\x00</Encrypt></xml>",
    "deep": b"<xml><Encrypt>" + b"<a>" * 10_000 + b"QUFB" + b"</a>" * 10_000 + b"</Encrypt></xml>",
    "wide": b"<xml>" + b"<F>x</F>" * 10_000 + b"<Encrypt>QUFB</Encrypt></xml>",
    "attributes": b"<xml " + b" ".join(b'a%d="v"' % i for i in range(10_000)) + b"><Encrypt>QUFB</Encrypt></xml>",
    "two-encrypts": b"<xml><Encrypt>QUFB</Encrypt><Encrypt>QkJC</Encrypt></xml>",
    "no-encrypt": b"<xml><ToUserName>x</ToUserName></xml>",
    "empty-encrypt": b"<xml><Encrypt></Encrypt></xml>",
    "not-xml": b"not xml",
    "unclosed": b"<xml><Encrypt>",
    "empty": b"",
}


@pytest.mark.parametrize("body", HOSTILE_ENVELOPES.values(), ids=HOSTILE_ENVELOPES.keys())
def test_it_refuses_a_hostile_envelope_as_an_xml_error(body):
    with pytest.raises(CallbackCryptoError) as caught:
        envelope_encrypted(body)
    assert caught.value.code == CallbackCryptoError.XML_PARSE


@pytest.mark.parametrize("body", HOSTILE_ENVELOPES.values(), ids=HOSTILE_ENVELOPES.keys())
def test_it_refuses_a_hostile_envelope_before_the_signature_even_when_signed(body):
    """Signed over whatever a naive parser would read: still refused as XML, never decrypted."""
    with pytest.raises(CallbackCryptoError) as caught:
        _crypto().decrypt_message(msg_signature=signature(TOKEN, str(NOW), "n", "QUFB"), timestamp=str(NOW),
                                  nonce="n", body=body)  # fmt: skip
    assert caught.value.code == CallbackCryptoError.XML_PARSE


def test_it_reads_a_plain_envelope_with_a_utf8_declaration():
    body = '<?xml version="1.0" encoding="UTF-8"?>\n<xml><ToUserName><![CDATA[ww]]></ToUserName>'
    body += "<Encrypt><![CDATA[QUFB+/==]]></Encrypt><AgentID>1</AgentID></xml>"
    assert envelope_encrypted(body.encode()) == "QUFB+/=="


def test_it_checks_the_signature_before_decrypting(monkeypatch):
    sent = _crypto().encrypt_message("<xml><A>b</A></xml>", timestamp=str(NOW), nonce="n")

    def never(self, encrypted):
        raise AssertionError("decrypted before the signature was checked")

    monkeypatch.setattr(CallbackCrypto, "decrypt", never)
    with pytest.raises(CallbackCryptoError) as caught:
        _crypto().decrypt_message(msg_signature="0" * 40, timestamp=str(NOW), nonce="n", body=sent["body"])
    assert caught.value.code == CallbackCryptoError.SIGNATURE


def test_it_checks_the_timestamp_before_decrypting(monkeypatch):
    stale = str(NOW - 301)
    sent = _crypto().encrypt_message("<xml><A>b</A></xml>", timestamp=stale, nonce="n")
    monkeypatch.setattr(CallbackCrypto, "decrypt", lambda self, encrypted: pytest.fail("decrypted a stale callback"))
    with pytest.raises(CallbackCryptoError) as caught:
        _crypto().decrypt_message(msg_signature=sent["msg_signature"], timestamp=stale, nonce="n", body=sent["body"])
    assert caught.value.code == CallbackCryptoError.TIMESTAMP


def test_it_refuses_a_non_ascii_signature_without_crashing():
    sent = _crypto().encrypt_message("<xml><A>b</A></xml>", timestamp=str(NOW), nonce="n")
    with pytest.raises(CallbackCryptoError) as caught:
        _crypto().decrypt_message(msg_signature="签名", timestamp=str(NOW), nonce="n", body=sent["body"])
    assert caught.value.code == CallbackCryptoError.SIGNATURE


@pytest.mark.parametrize("offset,accepted", [(0, True), (300, True), (-300, True), (301, False), (-301, False)])
def test_it_accepts_a_timestamp_within_the_window_either_way(offset, accepted):
    timestamp = str(NOW + offset)
    sent = _crypto().encrypt_message("<xml><A>b</A></xml>", timestamp=timestamp, nonce="n")
    decrypt = _crypto().decrypt_message
    if accepted:
        assert decrypt(msg_signature=sent["msg_signature"], timestamp=timestamp, nonce="n", body=sent["body"])
    else:
        with pytest.raises(CallbackCryptoError) as caught:
            decrypt(msg_signature=sent["msg_signature"], timestamp=timestamp, nonce="n", body=sent["body"])
        assert caught.value.code == CallbackCryptoError.TIMESTAMP


def test_it_refuses_a_validly_signed_url_verification_from_2001():
    timestamp = "1000000000"  # 2001-09-09
    echo = _crypto().encrypt("123")
    with pytest.raises(CallbackCryptoError) as caught:
        _crypto().verify_url(msg_signature=signature(TOKEN, timestamp, "n", echo), timestamp=timestamp, nonce="n",
                             echostr=echo)  # fmt: skip
    assert caught.value.code == CallbackCryptoError.TIMESTAMP


@pytest.mark.parametrize("timestamp", ["abc", "-1", "1e9", "1760000000.5", " 1760000000", "9" * 40, "１７６"])
def test_it_refuses_a_timestamp_that_is_not_a_unix_time(timestamp):
    echo = _crypto().encrypt("123")
    with pytest.raises(CallbackCryptoError) as caught:
        _crypto(max_age=None).verify_url(msg_signature=signature(TOKEN, timestamp, "n", echo), timestamp=timestamp,
                                         nonce="n", echostr=echo)  # fmt: skip
    assert caught.value.code == CallbackCryptoError.TIMESTAMP


def test_it_refuses_an_authenticated_message_with_a_dtd():
    """WeCom's own messages are parsed with the same hardened parser."""
    with pytest.raises(CallbackCryptoError) as caught:
        xml_fields(_laughs("utf-8").decode())
    assert caught.value.code == CallbackCryptoError.XML_PARSE


def test_it_reads_a_message_as_element_tree_did():
    message = (
        "<xml><ToUserName><![CDATA[ww]]></ToUserName><Content><![CDATA[情人节快乐 🌹 <b>&amp;</b>]]></Content>"
        "<Escaped>a &amp; b</Escaped><Empty/><MemChangeList><Item>wm1</Item><Item>wm2</Item></MemChangeList>"
        "<Mixed>before<Item>x</Item>after</Mixed></xml>"
    )
    assert xml_fields(message) == {
        "ToUserName": "ww",
        "Content": "情人节快乐 🌹 <b>&amp;</b>",
        "Escaped": "a & b",
        "Empty": "",
        "MemChangeList": "",
        "Mixed": "before",
    }
