"""Marketing admins may view the WeCom callbacks log."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    permission = apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="staff", codename="view_callbackevent"
    )
    apps.get_model("auth", "Group").objects.get(name="Marketing admin").permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [("staff", "0005_callback_event")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
