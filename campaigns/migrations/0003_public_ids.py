"""Public ids for variants and calls to action (the API names them in URLs).
Three steps, so existing rows each get their own UUID."""

import uuid

from django.db import migrations, models


def fill(apps, schema_editor):
    for name in ("Variant", "CallToAction"):
        model = apps.get_model("campaigns", name)
        for pk in model.objects.filter(public_id__isnull=True).values_list("pk", flat=True):
            model.objects.filter(pk=pk).update(public_id=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0002_roles_and_tones")]
    operations = [
        migrations.AddField("variant", "public_id", models.UUIDField(null=True, editable=False)),
        migrations.AddField("calltoaction", "public_id", models.UUIDField(null=True, editable=False)),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            "variant", "public_id", models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
        ),
        migrations.AlterField(
            "calltoaction", "public_id", models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
        ),
    ]
