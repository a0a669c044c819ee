"""Marketing admins may view the WeCom callbacks log."""

from django.db import migrations

from staff.roles import create_all_permissions


def grant(apps, schema_editor):
    create_all_permissions(apps)
    permission = apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="staff", codename="view_callbackevent"
    )
    apps.get_model("auth", "Group").objects.get(name="Marketing admin").permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [("staff", "0005_callback_event")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
