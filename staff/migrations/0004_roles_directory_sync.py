"""Marketing admins may view and start directory syncs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(
        content_type__app_label="staff", codename__in=["view_directorysyncrun", "add_directorysyncrun"]
    )
    Group.objects.get(name="Marketing admin").permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [("staff", "0003_directory_sync_run")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
