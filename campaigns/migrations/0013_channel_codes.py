"""Channel QR codes (docs/wecom-contact-way.md): a campaign's welcome message, one "contact me" code per
(campaign, associate), and the welcome messages sent through them. Marketing admins create codes;
approvers and managers see them."""

import django.db.models.deletion
from django.db import migrations, models

import campaigns.models
from staff.roles import grant_role_permissions

GRANTS = {
    "Marketing admin": ["view_channelcode", "add_channelcode", "change_channelcode", "view_welcomesent"],
    "Approver": ["view_channelcode"],
    "Manager": ["view_channelcode"],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, app_label="campaigns", grants=GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0012_tracked_links"),
        ("staff", "0006_roles_callbacks"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="welcome_text",
            field=models.TextField(
                blank=True,
                help_text="Sent to a customer who adds an associate through the campaign's QR code. "
                "Empty: no welcome message.",
                validators=[campaigns.models.validate_welcome_text],
                verbose_name="welcome message",
            ),
        ),
        migrations.CreateModel(
            name="ChannelCode",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("state", models.CharField(editable=False, max_length=30, unique=True, verbose_name="channel")),
                ("config_id", models.CharField(blank=True, max_length=64, verbose_name="WeCom config id")),
                ("qr_code", models.URLField(blank=True, max_length=1024, verbose_name="QR code")),
                ("errcode", models.IntegerField(blank=True, null=True, verbose_name="errcode")),
                ("error", models.CharField(blank=True, max_length=255, verbose_name="reason")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                (
                    "associate",
                    models.ForeignKey(
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
                        related_name="channel_codes",
                        to="campaigns.campaign",
                        verbose_name="campaign",
                    ),
                ),
            ],
            options={
                "verbose_name": "channel QR code",
                "verbose_name_plural": "channel QR codes",
                "ordering": ["campaign", "associate"],
            },
        ),
        migrations.CreateModel(
            name="WelcomeSent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("welcome_code", models.CharField(max_length=128, unique=True, verbose_name="welcome code")),
                ("external_userid", models.CharField(max_length=64, verbose_name="customer")),
                (
                    "state",
                    models.CharField(
                        choices=[("sending", "Sending"), ("sent", "Sent"), ("failed", "Failed")],
                        default="sending",
                        max_length=8,
                        verbose_name="state",
                    ),
                ),
                ("errcode", models.IntegerField(blank=True, null=True, verbose_name="errcode")),
                ("error", models.CharField(blank=True, max_length=255, verbose_name="reason")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("sent_at", models.DateTimeField(blank=True, null=True, verbose_name="sent at")),
                (
                    "channel_code",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="welcomes",
                        to="campaigns.channelcode",
                        verbose_name="channel QR code",
                    ),
                ),
                (
                    "event",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="staff.callbackevent",
                        verbose_name="WeCom callback",
                    ),
                ),
            ],
            options={
                "verbose_name": "welcome message sent",
                "verbose_name_plural": "welcome messages sent",
                "ordering": ["-created_at"],
            },
        ),
        migrations.AddConstraint(
            model_name="channelcode",
            constraint=models.UniqueConstraint(fields=("campaign", "associate"), name="channel_code_once"),
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
