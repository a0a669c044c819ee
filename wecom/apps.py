"""The WeCom HTTP client, callback crypto and the sandbox."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WecomConfig(AppConfig):
    name = "wecom"
    verbose_name = _("WeCom")
