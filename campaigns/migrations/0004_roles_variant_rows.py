"""A variant's hashtag and photo rows are edited inline: writers need their
permissions too (the admin hides inlines a user may not add to)."""

from django.db import migrations

from staff.roles import create_all_permissions

GRANTS = {
    "Marketing admin": [f"{a}_{m}" for m in ("varianthashtag", "variantimage") for a in ("view", "add", "change",
                                                                                         "delete")],
    "Approver": ["view_varianthashtag", "view_variantimage"],
}  # fmt: skip


def grant(apps, schema_editor):
    create_all_permissions(apps)
    permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group")
    for role, codenames in GRANTS.items():
        found = list(permission.objects.filter(content_type__app_label="campaigns", codename__in=codenames))
        assert len(found) == len(codenames), sorted(set(codenames) - {p.codename for p in found})
        group.objects.get_or_create(name=role)[0].permissions.add(*found)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_public_ids")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
