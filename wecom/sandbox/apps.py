"""The WeCom sandbox: a local server that answers the WeCom API like WeCom does.

Mounted at ``/wecom-sandbox/`` only when ``WECOM_SANDBOX=1``; never imported by
application code (the app reaches it over HTTP through ``wecom.client``).
"""

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "wecom.sandbox"
    label = "wecom_sandbox"
    verbose_name = "WeCom sandbox"
