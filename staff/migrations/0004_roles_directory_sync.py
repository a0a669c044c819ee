"""Marketing admins may view and start directory syncs."""

from django.db import migrations

from staff.roles import create_all_permissions


def grant(apps, schema_editor):
    create_all_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(
        content_type__app_label="staff", codename__in=["view_directorysyncrun", "add_directorysyncrun"]
    )
    Group.objects.get(name="Marketing admin").permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [("staff", "0003_directory_sync_run")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
