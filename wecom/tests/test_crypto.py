"""Callback crypto against the official sample vectors (developer.work.weixin.qq.com
path 90968 and the official WXBizMsgCrypt samples), plus round trips and refusals."""

import base64

import pytest

from wecom.crypto import CallbackCrypto, CallbackCryptoError, signature, xml_fields

# The official sample configuration.
TOKEN = "QDG6eK"
CORP_ID = "wx5823bf96d3bd56c7"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

# URL verification (GET) sample.
VERIFY = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
VERIFY_PLAINTEXT = "1616140317555161061"

# Event delivery (POST) sample.
POST = {"msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6", "timestamp": "1409659813", "nonce": "1372623149"}
POST_ENCRYPTED = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3"
    "TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gs"
    "ijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax"
    "5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHB"
    "ZZIs2pDBS8R07+qN+E7Q=="
)
POST_BODY = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{POST_ENCRYPTED}]]></Encrypt></xml>"


@pytest.fixture
def crypto():
    return CallbackCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID)


def test_it_answers_the_official_url_verification(crypto):
    assert crypto.verify_url(**VERIFY) == VERIFY_PLAINTEXT


def test_it_decrypts_the_official_event(crypto):
    message = crypto.decrypt_message(**POST, body=POST_BODY)
    fields = xml_fields(message)
    assert fields["ToUserName"] == CORP_ID
    assert fields["MsgType"] == "text"


def test_encrypting_with_the_samples_random_prefix_gives_the_official_ciphertext(crypto):
    message, prefix = crypto.decrypt(POST_ENCRYPTED)
    assert crypto.encrypt(message, random_prefix=prefix) == POST_ENCRYPTED


def test_the_signature_is_sha1_over_the_sorted_strings():
    assert signature(TOKEN, POST["timestamp"], POST["nonce"], POST_ENCRYPTED) == POST["msg_signature"]


def test_padding_is_to_32_byte_blocks(crypto):
    for size in (0, 1, 11, 12, 13, 44, 100):
        raw = base64.b64decode(crypto.encrypt("x" * size, random_prefix=b"0" * 16))
        plain_length = 16 + 4 + size + len(CORP_ID)
        assert len(raw) == (plain_length // 32 + 1) * 32


def test_a_round_trip_keeps_chinese_text(crypto):
    sent = crypto.encrypt_message("<xml><Content><![CDATA[情人节快乐 🌹]]></Content></xml>", timestamp="1", nonce="n")
    received = crypto.decrypt_message(msg_signature=sent["msg_signature"], timestamp="1", nonce="n", body=sent["body"])
    assert xml_fields(received)["Content"] == "情人节快乐 🌹"


def test_a_bad_signature_is_refused(crypto):
    with pytest.raises(CallbackCryptoError) as caught:
        crypto.verify_url(**{**VERIFY, "msg_signature": "0" * 40})
    assert caught.value.code == CallbackCryptoError.SIGNATURE


def test_another_corps_message_is_refused():
    other = CallbackCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id="ww-another-corp")
    with pytest.raises(CallbackCryptoError) as caught:
        other.decrypt_message(**POST, body=POST_BODY)
    assert caught.value.code == CallbackCryptoError.RECEIVE_ID


@pytest.mark.parametrize(
    "encrypted,code",
    [
        ("not base64 at all!", CallbackCryptoError.BASE64),
        (base64.b64encode(b"short").decode(), CallbackCryptoError.DECRYPT),
        (base64.b64encode(bytes(64)).decode(), CallbackCryptoError.DECRYPT),
    ],
)
def test_garbage_ciphertext_is_refused_with_the_official_code(crypto, encrypted, code):
    with pytest.raises(CallbackCryptoError) as caught:
        crypto.decrypt(encrypted)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "body",
    ["<xml><Encrypt>", "not xml", "<xml><ToUserName>x</ToUserName></xml>",
     '<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>'],
)  # fmt: skip
def test_garbage_envelopes_are_refused(crypto, body):
    with pytest.raises(CallbackCryptoError) as caught:
        crypto.decrypt_message(**POST, body=body)
    assert caught.value.code == CallbackCryptoError.XML_PARSE


@pytest.mark.parametrize("key", ["short", "!" * 43])
def test_a_malformed_encoding_aes_key_is_refused(key):
    with pytest.raises(CallbackCryptoError) as caught:
        CallbackCrypto(token=TOKEN, encoding_aes_key=key, receive_id=CORP_ID)
    assert caught.value.code == CallbackCryptoError.BAD_AES_KEY
