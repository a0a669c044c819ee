"""WeCom callback crypto (wecom-api.md §6): signature, AES-256-CBC, envelope.

- ``msg_signature = sha1(''.join(sorted([token, timestamp, nonce, encrypted])))``, lowercase hex.
- ``AESKey = base64(EncodingAESKey + "=")`` (32 bytes); IV = its first 16 bytes.
- Plaintext = 16 random bytes + 4-byte big-endian length + message + receive id (the corpid),
  padded PKCS#7 to a multiple of **32** bytes (not AES's 16).

Errors carry the official sample's codes (-40001 …) so logs read like WeCom's docs.
Independent of Django and of our apps: the app's callback view and the sandbox both use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_BLOCK = 32


class CallbackCryptoError(Exception):
    """A callback that cannot be trusted or read. ``code`` is the official sample's."""

    SIGNATURE = -40001
    XML_PARSE = -40002
    BAD_AES_KEY = -40004
    RECEIVE_ID = -40005
    DECRYPT = -40007
    BAD_BUFFER = -40008
    BASE64 = -40010

    def __init__(self, code: int, message: str):
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeCom's protocol


def _parse_xml(text: str | bytes) -> ET.Element:
    # WeCom's envelopes are tiny and have no DTD; refuse any DOCTYPE so entity
    # expansion tricks cannot reach the parser.
    raw = text.encode() if isinstance(text, str) else text
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, "XML with a DOCTYPE is not accepted")
    try:
        return ET.fromstring(raw)  # noqa: S314 - DOCTYPE refused above
    except ET.ParseError as error:
        raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, f"not well-formed XML: {error}") from None


def xml_fields(text: str | bytes) -> dict[str, str]:
    """The child elements of a flat WeCom XML message, as text."""
    return {child.tag: (child.text or "") for child in _parse_xml(text)}


class CallbackCrypto:
    def __init__(self, *, token: str, encoding_aes_key: str, receive_id: str):
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
        if not hmac.compare_digest(expected, (msg_signature or "").lower()):
            raise CallbackCryptoError(CallbackCryptoError.SIGNATURE, "the signature does not match")

    def verify_url(self, *, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """URL verification (GET): the plaintext to answer with, exactly."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)[0]

    def decrypt_message(self, *, msg_signature: str, timestamp: str, nonce: str, body: str | bytes) -> str:
        """Event delivery (POST): the XML envelope's ``Encrypt``, checked and decrypted."""
        encrypted = xml_fields(body).get("Encrypt", "")
        if not encrypted:
            raise CallbackCryptoError(CallbackCryptoError.XML_PARSE, "the envelope has no Encrypt element")
        self.check_signature(msg_signature, timestamp, nonce, encrypted)
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
