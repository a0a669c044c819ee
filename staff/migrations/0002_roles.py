"""Create the Marketing admin, Approver and Manager groups with their permissions."""

from django.db import migrations

from staff.roles import create_all_permissions, roles_sync

_ALL = ("view", "add", "change", "delete")
_DIRECTORY = ["department", "associate", "associatedepartment", "customer", "customertaggroup", "customertag",
              "contact", "contacttag"]  # fmt: skip
# Frozen copy of staff.roles.ROLE_PERMISSIONS as of this migration.
ROLE_PERMISSIONS = {
    "Marketing admin": {
        **{("staff", model): _ALL for model in _DIRECTORY},
        ("staff", "managerassignment"): _ALL,
        ("staff", "user"): ("view",),
    },
    "Approver": {("staff", model): ("view",) for model in _DIRECTORY},
    "Manager": {
        ("staff", model): ("view",)
        for model in ["department", "associate", "associatedepartment", "customer", "contact", "contacttag"]
    },
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations ran (post_migrate);
    # create them now so the groups can reference them on a fresh database.
    create_all_permissions(apps)
    roles_sync(
        group_model=apps.get_model("auth", "Group"),
        permission_model=apps.get_model("auth", "Permission"),
        role_permissions=ROLE_PERMISSIONS,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
