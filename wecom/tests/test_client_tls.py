"""The HTTP client's TLS set-up."""

from __future__ import annotations

import ssl

from wecom.client import WeComClient, _ssl_context


def test_clients_share_one_tls_context_that_still_verifies_certificates():
    """Building a TLS context loads the CA bundle (~20 ms): the web builds a client per request."""
    options = {"base_url": "https://qyapi.weixin.qq.com/cgi-bin/", "corp_id": "ww", "secret": "s", "agent_id": 1,
               "cache": None}  # fmt: skip
    first, second = WeComClient(**options), WeComClient(**options)
    try:
        contexts = [client._http._transport._pool._ssl_context for client in (first, second)]
    finally:
        first.close()
        second.close()
    assert contexts[0] is contexts[1] is _ssl_context()
    assert _ssl_context().verify_mode == ssl.CERT_REQUIRED and _ssl_context().check_hostname
