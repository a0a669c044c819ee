"""WeCom callback crypto (wecom-api.md §6): signature, AES-256-CBC, envelope.

- ``msg_signature = sha1(''.join(sorted([token, timestamp, nonce, encrypted])))``, lowercase hex.
- ``AESKey = base64(EncodingAESKey + "=")`` (32 bytes); IV = its first 16 bytes.
- Plaintext = 16 random bytes + 4-byte big-endian length + message + receive id (the corpid),
  padded PKCS#7 to a multiple of **32** bytes (not AES's 16).

Errors carry the official sample's codes (-40001 …) so logs read like WeCom's docs.
Independent of Django and of our apps: the app's callback view and the sandbox both use it.

Untrusted bytes are handled in this order (DESIGN.md §7): the envelope is read by a hardened
parser (defusedxml: no DTD, no entities, whatever the encoding; UTF-8 only; flat and small),
the signature is checked over the raw ``Encrypt`` text, then the timestamp's freshness, and only
then is anything decrypted; the decrypted message goes through the same hardened parser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import time
from collections.abc import Callable
from xml.etree.ElementTree import ParseError

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

PAD_BLOCK = 32
# The envelope is <xml><ToUserName/><Encrypt/><AgentID/></xml>: flat, a handful of fields, no attributes.
ENVELOPE_MAX_DEPTH = 2
ENVELOPE_MAX_FIELDS = 16
# An attribute needs an "=", so counting them bounds the attributes (and namespace declarations) expat
# would build before any handler can refuse them; the envelope's own are the XML declaration's and
# the base64 padding.
ENVELOPE_MAX_EQUALS = 16
# The decrypted message is signed by WeCom but still parsed defensively: events nest a little (lists).
MESSAGE_MAX_DEPTH = 8
MESSAGE_MAX_FIELDS = 256
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DECLARED_ENCODING = re.compile(r"""^\ufeff?\s*<\?xml\s[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_UTF8_NAMES = {"utf-8", "utf8"}


class CallbackCryptoError(Exception):
    """A callback that cannot be trusted or read. ``code`` is the official sample's."""

    SIGNATURE = -40001
    XML_PARSE = -40002
    BAD_AES_KEY = -40004
    RECEIVE_ID = -40005
    DECRYPT = -40007
    BAD_BUFFER = -40008
    BASE64 = -40010
    TIMESTAMP = -40100  # ours, not the official sample's: a malformed or stale timestamp

    def __init__(self, code: int, message: str):
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeCom's protocol


class _Refused(Exception):
    """Raised from inside the parser to stop it at once."""


class _FlatFields:
    """An ElementTree parser target that keeps only the text of the root's children (as
    ``child.text`` reads: up to the first grandchild), and stops the parser past a depth or a
    number of fields, so nothing grows with a hostile body."""

    def __init__(self, *, max_depth: int, max_fields: int):
        self.max_depth, self.max_fields = max_depth, max_fields
        self.fields: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self._depth = 0
        self._text: list[str] = []
        self._reading = False  # inside a field, before its first child

    def start(self, tag: str, attrib: dict) -> None:
        self._depth += 1
        if self._depth > self.max_depth:
            raise _Refused(f"nested deeper than {self.max_depth} elements")
        if self._depth == 2:
            if sum(self.counts.values()) >= self.max_fields:
                raise _Refused(f"more than {self.max_fields} fields")
            self.counts[tag] = self.counts.get(tag, 0) + 1
            self._text, self._reading = [], True
        elif self._depth == 3:
            self._reading = False

    def data(self, text: str) -> None:
        if self._depth == 2 and self._reading:
            self._text.append(text)

    def end(self, tag: str) -> None:
        if self._depth == 2:
            self.fields[tag] = "".join(self._text)
            self._text, self._reading = [], False
        self._depth -= 1

    def close(self) -> dict[str, str]:
        return self.fields


def _utf8_text(raw: str | bytes) -> str:
    """The document as text, refused unless it is UTF-8: WeCom sends nothing else, and a UTF-16/32
    body or a multi-byte declaration (gbk, shift_jis, big5 …) is where tricks hide."""
    if isinstance(raw, bytes):
        if b"\x00" in raw:  # UTF-16/32 (with or without a BOM); U+0000 is never allowed in XML
            raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, "the XML is not UTF-8 (NUL bytes)")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, "the XML is not UTF-8") from None
    declared = _DECLARED_ENCODING.match(raw[:512])
    if declared and declared.group(1).strip().lower() not in _UTF8_NAMES:
        raise CallbackCryptoError(
            CallbackCryptoError.XML_PARSE, f"the XML declares {declared.group(1)[:32]!r}; only UTF-8 is accepted"
        )
    return raw


def _flat_fields(raw: str | bytes, *, max_depth: int, max_fields: int) -> _FlatFields:
    text = _utf8_text(raw)
    target = _FlatFields(max_depth=max_depth, max_fields=max_fields)
    # Fed as text, expat reads UTF-8 whatever the document declares; no DTD, no entities.
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(text)
        parser.close()
    except DefusedXmlException:
        raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, "XML with a DTD or entities is not accepted") from None
    except _Refused as error:
        raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, f"not a flat WeCom message: {error}") from None
    except ParseError as error:
        raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, f"not well-formed XML: {error}") from None
    except (ValueError, LookupError) as error:  # expat: unsupported or unknown encodings, and the like
        raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, f"unreadable XML: {error}") from None
    return target


def xml_fields(text: str | bytes) -> dict[str, str]:
    """The child elements of a flat WeCom XML message (a decrypted one), as text."""
    return _flat_fields(text, max_depth=MESSAGE_MAX_DEPTH, max_fields=MESSAGE_MAX_FIELDS).fields


def envelope_encrypted(body: str | bytes) -> str:
    """The raw ``Encrypt`` text of an event delivery's envelope (untrusted: read, not believed)."""
    raw = body.encode() if isinstance(body, str) else body
    if raw.count(b"=") > ENVELOPE_MAX_EQUALS:
        raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, "the envelope carries attributes")
    envelope = _flat_fields(raw, max_depth=ENVELOPE_MAX_DEPTH, max_fields=ENVELOPE_MAX_FIELDS)
    if envelope.counts.get("Encrypt", 0) > 1:
        raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, "the envelope has more than one Encrypt element")
    encrypted = envelope.fields.get("Encrypt", "")
    if not encrypted:
        raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, "the envelope has no Encrypt element")
    return encrypted


class CallbackCrypto:
    def __init__(
        self,
        *,
        token: str,
        encoding_aes_key: str,
        receive_id: str,
        max_age: int | None = None,
        clock: Callable[[], float] = time.time,
    ):
        """``max_age``: seconds a callback's ``timestamp`` may be from ``clock()``, either way
        (``None``: not checked, for the sandbox's sending side and the official vectors)."""
        if len(encoding_aes_key) != 43:
            raise CallbackCryptoError(CallbackCryptoError.BAD_AES_KEY, "EncodingAESKey must be 43 characters")
        try:
            self._key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise CallbackCryptoError(CallbackCryptoError.BAD_AES_KEY, "EncodingAESKey is not base64") from None
        if len(self._key) != 32:
            raise CallbackCryptoError(CallbackCryptoError.BAD_AES_KEY, "EncodingAESKey must decode to 32 bytes")
        self._token = token
        self._receive_id = receive_id
        self._max_age = max_age
        self._clock = clock

    # --- the cipher ---------------------------------------------------------------
    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, message: str, *, random_prefix: bytes | None = None) -> str:
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("the random prefix is 16 bytes")
        body = message.encode()
        plain = prefix + struct.pack(">I", len(body)) + body + self._receive_id.encode()
        pad = PAD_BLOCK - len(plain) % PAD_BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> tuple[str, bytes]:
        """Returns (message, the 16-byte random prefix); checks the receive id."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackCryptoError(CallbackCryptoError.BASE64, "the encrypted text is not base64") from None
        if not data or len(data) % 16:
            raise CallbackCryptoError(CallbackCryptoError.DECRYPT, "the encrypted text has a wrong length")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= PAD_BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CallbackCryptoError(CallbackCryptoError.DECRYPT, "bad padding: wrong key or corrupted text")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise CallbackCryptoError(CallbackCryptoError.BAD_BUFFER, "the decrypted text is too short")
        (length,) = struct.unpack(">I", plain[16:20])
        body, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if len(body) != length:
            raise CallbackCryptoError(CallbackCryptoError.BAD_BUFFER, "the message length does not match")
        if not hmac.compare_digest(receive_id, self._receive_id.encode()):
            raise CallbackCryptoError(CallbackCryptoError.RECEIVE_ID, "the message is for another corp")
        try:
            return body.decode(), plain[:16]
        except UnicodeDecodeError:
            raise CallbackCryptoError(CallbackCryptoError.BAD_BUFFER, "the message is not UTF-8") from None

    # --- the protocol -----------------------------------------------------------
    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = signature(self._token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").lower().encode()):
            raise CallbackCryptoError(CallbackCryptoError.SIGNATURE, "the signature does not match")

    def check_timestamp(self, timestamp: str) -> None:
        """A Unix time within ``max_age`` seconds of now, either way (a replay of an old callback,
        even a validly signed one, is refused; the event key catches the ones inside the window)."""
        if not _TIMESTAMP.fullmatch(timestamp or ""):
            raise CallbackCryptoError(CallbackCryptoError.TIMESTAMP, "the timestamp is not a Unix time")
        if self._max_age is not None and abs(self._clock() - int(timestamp)) > self._max_age:
            raise CallbackCryptoError(
                CallbackCryptoError.TIMESTAMP, f"the timestamp is more than {self._max_age} s from now"
            )

    def verify_url(self, *, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """URL verification (GET): the plaintext to answer with, exactly."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        self.check_timestamp(timestamp)
        return self.decrypt(echostr)[0]

    def decrypt_message(self, *, msg_signature: str, timestamp: str, nonce: str, body: str | bytes) -> str:
        """Event delivery (POST): the XML envelope's ``Encrypt``, checked and decrypted.
        Nothing is decrypted, and no decrypted XML parsed, before the signature and the timestamp pass."""
        encrypted = envelope_encrypted(body)
        self.check_signature(msg_signature, timestamp, nonce, encrypted)
        self.check_timestamp(timestamp)
        return self.decrypt(encrypted)[0]

    def encrypt_message(self, message: str, *, timestamp: str, nonce: str, random_prefix: bytes | None = None) -> dict:
        """What WeCom sends: the envelope XML and the query parameters that sign it."""
        encrypted = self.encrypt(message, random_prefix=random_prefix)
        envelope = (
            f"<xml><ToUserName><![CDATA[{self._receive_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        )
        return {
            "body": envelope,
            "msg_signature": signature(self._token, timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }
