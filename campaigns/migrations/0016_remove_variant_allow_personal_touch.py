from django.db import migrations


class Migration(migrations.Migration):
    """The former yes/no of personal touch, now ``personal_touch`` (0015 carried it over)."""

    dependencies = [
        ("campaigns", "0015_frozen_versions_data"),
    ]

    operations = [
        migrations.RemoveField(
            model_name='variant',
            name='allow_personal_touch',
        ),
    ]
