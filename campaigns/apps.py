"""Campaigns, moments, variants, approval, dispatch and the associate's one-click page."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from campaigns import channels
        from staff.signals import contact_added

        # A customer who came through a campaign's QR code gets its welcome message (staff
        # cannot import campaigns, so it tells us with a signal).
        contact_added.connect(channels.on_contact_added, dispatch_uid="campaigns.channels.welcome")
