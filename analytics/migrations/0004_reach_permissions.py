"""Everybody who reads reach may read its facts and roll-ups; managers within their
subtree (the API scopes every read)."""

from django.db import migrations

from staff.roles import grant_role_permissions

REACH = ["view_delivery", "view_engagement", "view_associateday", "view_departmentday", "view_campaignreach"]
GRANTS = {"Marketing admin": REACH, "Approver": REACH, "Manager": REACH}


def grant(apps, schema_editor):
    grant_role_permissions(apps, app_label="analytics", grants=GRANTS)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0003_engagement_rollups"), ("staff", "0001_initial")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
