"""The platform rules in the admin: one version per effective date."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from analytics.models import PlatformRules


@admin.register(PlatformRules)
class PlatformRulesAdmin(ModelAdmin):
    list_display = ["effective_from", "feed_cap", "unverified_reach_limit", "monthly_cap", "time_zone", "note"]
    fields = ["effective_from", "feed_cap", "unverified_reach_limit", "enterprise_monthly_cap", "time_zone", "note"]
    ordering = ["-effective_from"]

    @admin.display(description=_("enterprise monthly cap"))
    def monthly_cap(self, rules: PlatformRules) -> str:
        return str(rules.enterprise_monthly_cap) if rules.enterprise_monthly_cap else _("off")
