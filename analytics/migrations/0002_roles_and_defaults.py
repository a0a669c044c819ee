"""Marketing admins keep the platform rules; approvers read them. The first version: WeCom's
documented defaults (DESIGN.md §4)."""

import datetime as dt

from django.db import migrations

from staff.roles import grant_role_permissions

GRANTS = {
    "Marketing admin": ["view_platformrules", "add_platformrules", "change_platformrules", "delete_platformrules"],
    "Approver": ["view_platformrules"],
}


def grant(apps, schema_editor):
    from django.conf import settings

    grant_role_permissions(apps, app_label="analytics", grants=GRANTS)
    apps.get_model("analytics", "PlatformRules").objects.get_or_create(
        effective_from=dt.date(2021, 1, 1),
        defaults={"feed_cap": 3, "unverified_reach_limit": 200, "time_zone": settings.TIME_ZONE,
                  "note": "WeCom's documented limits: 3 moments per customer per associate a day; 200 customers "
                  "for an unverified account."},
    )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
