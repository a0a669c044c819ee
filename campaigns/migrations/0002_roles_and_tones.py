"""Marketing admins draft and submit; approvers view and decide. And a starting
vocabulary of tones (admins edit it)."""

from django.db import migrations

from staff.roles import grant_role_permissions

CONTENT = ("campaign", "variant", "tone", "hashtag", "forbiddenword", "mediaasset", "calltoaction")
ALL = ("view", "add", "change", "delete")
# Frozen copy of what this migration grants (staff.roles.ROLE_PERMISSIONS may grow later).
GRANTS = {
    "Marketing admin": [f"{a}_{m}" for m in CONTENT for a in ALL]
    + [f"{a}_moment" for a in (*ALL, "submit")]
    + ["view_approval", "view_statechange"],
    "Approver": [f"view_{m}" for m in CONTENT] + ["view_moment", "approve_moment", "view_approval", "view_statechange"],
}
TONES = [
    ("warm", "亲切温暖", "像朋友一样说话：称呼客户，分享感受，少用感叹号。"),
    ("professional", "专业", "讲清楚产品与服务的要点，语气克制可信。"),
    ("playful", "活泼俏皮", "轻松、有趣，可以用表情符号，但不过度。"),
    ("festive", "节日氛围", "围绕节日的祝福与仪式感，突出限时与惊喜。"),
    ("serious", "正式", "通知与说明类内容：准确、简洁、不夸张。"),
]


def grant(apps, schema_editor):
    grant_role_permissions(apps, app_label="campaigns", grants=GRANTS)


def tones(apps, schema_editor):
    tone = apps.get_model("campaigns", "Tone")
    for order, (code, name, guidance) in enumerate(TONES):
        tone.objects.get_or_create(code=code, defaults={"name": name, "guidance": guidance, "order": order})


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("staff", "0006_roles_callbacks")]
    operations = [
        migrations.RunPython(grant, migrations.RunPython.noop),
        migrations.RunPython(tones, migrations.RunPython.noop),
    ]
