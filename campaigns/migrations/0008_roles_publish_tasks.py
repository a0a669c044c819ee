"""Writers and approvers see the publish tasks (who was notified, who published)."""

from django.db import migrations

from staff.roles import grant_role_permissions

GRANTS = {"Marketing admin": ["view_publishtask"], "Approver": ["view_publishtask"]}


def grant(apps, schema_editor):
    grant_role_permissions(apps, app_label="campaigns", grants=GRANTS)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0007_wecom_media")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
