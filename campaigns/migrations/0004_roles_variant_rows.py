"""A variant's hashtag and photo rows are edited inline: writers need their
permissions too (the admin hides inlines a user may not add to)."""

from django.db import migrations

from staff.roles import grant_role_permissions

GRANTS = {
    "Marketing admin": [f"{a}_{m}" for m in ("varianthashtag", "variantimage") for a in ("view", "add", "change",
                                                                                         "delete")],
    "Approver": ["view_varianthashtag", "view_variantimage"],
}  # fmt: skip


def grant(apps, schema_editor):
    grant_role_permissions(apps, app_label="campaigns", grants=GRANTS)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_public_ids")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
