from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0007_contact_channel_state"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(
                condition=models.Q(("is_active", True)), fields=["associate"], name="contact_active_associate"
            ),
        ),
    ]
