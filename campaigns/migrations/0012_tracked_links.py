"""CTA tracking (DESIGN.md §5.5): short links per (moment, associate) and their clicks; marketing
admins, approvers and managers see them."""

import django.db.models.deletion
from django.db import migrations, models

from staff.roles import grant_role_permissions

GRANTS = {
    "Marketing admin": ["view_trackedlink", "view_linkclick"],
    "Approver": ["view_trackedlink", "view_linkclick"],
    "Manager": ["view_trackedlink", "view_linkclick"],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, app_label="campaigns", grants=GRANTS)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0011_publish_task_via"), ("staff", "0006_roles_callbacks")]
    operations = [
        migrations.CreateModel(
            name="TrackedLink",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(editable=False, max_length=16, unique=True, verbose_name="code")),
                ("target_url", models.URLField(max_length=1024, verbose_name="target URL")),
                (
                    "purpose",
                    models.CharField(
                        choices=[
                            ("attachment", "Link attachment"),
                            ("cta", "Call to action"),
                            ("group_qr", "Group QR code"),
                        ],
                        max_length=16,
                        verbose_name="purpose",
                    ),
                ),  # fmt: skip
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                (
                    "associate",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="staff.associate",
                        verbose_name="associate",
                    ),
                ),
                (
                    "moment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tracked_links",
                        to="campaigns.moment",
                        verbose_name="moment",
                    ),
                ),
            ],
            options={
                "verbose_name": "tracked link",
                "verbose_name_plural": "tracked links",
                "ordering": ["moment", "associate", "id"],
            },
        ),
        migrations.CreateModel(
            name="LinkClick",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("clicked_at", models.DateTimeField(verbose_name="clicked at")),
                ("day", models.DateField(verbose_name="day")),
                (
                    "device",
                    models.CharField(
                        choices=[
                            ("wecom", "WeCom"),
                            ("wechat", "WeChat"),
                            ("phone", "Phone browser"),
                            ("tablet", "Tablet"),
                            ("desktop", "Desktop"),
                            ("other", "Other"),
                        ],
                        max_length=8,
                        verbose_name="device",
                    ),
                ),  # fmt: skip
                (
                    "associate",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="staff.associate",
                        verbose_name="associate",
                    ),
                ),
                (
                    "campaign",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="campaigns.campaign",
                        verbose_name="campaign",
                    ),
                ),
                (
                    "link",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="clicks",
                        to="campaigns.trackedlink",
                        verbose_name="link",
                    ),
                ),
                (
                    "moment",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="campaigns.moment",
                        verbose_name="moment",
                    ),
                ),
            ],
            options={
                "verbose_name": "link click",
                "verbose_name_plural": "link clicks",
                "ordering": ["-clicked_at", "-id"],
            },
        ),
        migrations.AddConstraint(
            model_name="trackedlink",
            constraint=models.UniqueConstraint(
                condition=models.Q(("associate__isnull", False)),
                fields=("moment", "associate", "target_url"),
                name="tracked_link_once",
            ),
        ),
        migrations.AddConstraint(
            model_name="trackedlink",
            constraint=models.UniqueConstraint(
                condition=models.Q(("associate__isnull", True)),
                fields=("moment", "target_url"),
                name="tracked_link_once_enterprise",
            ),
        ),
        migrations.AddIndex(
            model_name="linkclick",
            index=models.Index(fields=["moment", "day"], name="link_click_moment_day"),
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
