"""``manage.py seed_demo_campaign``: the Valentine's demo campaign (see campaigns.demo)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns import demo
from campaigns.models import Campaign
from staff.models import User


class Command(BaseCommand):
    help = "Draft the demo Valentine's campaign (Feb 10–14) with tier variants, photos, hashtags and offers."

    def add_arguments(self, parser):
        parser.add_argument("--writer", default="admin", help="username of the writer (default: admin)")
        parser.add_argument("--approver", default="approver", help="username of the approver, if any")
        parser.add_argument("--flush", action="store_true", help="remove every campaign first")
        parser.add_argument("--flush-only", action="store_true", help="remove every campaign and stop")
        parser.add_argument("--if-empty", action="store_true", help="skip when a campaign exists")

    def handle(self, *args, **options):
        # Like seed_demo: a demo for the sandbox's brand. --flush deletes every campaign, so never on a real one.
        if not settings.WECOM_SANDBOX:
            raise CommandError(
                "seed_demo_campaign drafts the demo in the WeCom sandbox's brand and is refused without the sandbox "
                "(production settings never enable it): nothing was changed."
            )
        if options["flush"] or options["flush_only"]:
            demo.demo_campaign_flush()
            if options["flush_only"]:
                return
        if options["if_empty"] and Campaign.objects.exists():
            self.stdout.write("A campaign exists already; not drafting the demo one.")
            return
        writer = User.objects.filter(username=options["writer"]).first()
        if writer is None:
            writer, _ = User.objects.get_or_create(username="demo-writer", defaults={"is_active": False})
        approver = User.objects.filter(username=options["approver"]).exclude(pk=writer.pk).first()
        try:
            campaign = demo.demo_campaign_create(writer=writer, approver=approver)
        except Exception as error:
            raise CommandError(f"The demo campaign could not be drafted: {error}") from error
        counts = {state: campaign.moments.filter(state=state).count() for state in ("approved", "in_review", "draft")}
        self.stdout.write(self.style.SUCCESS(
            f"Demo campaign “{campaign.name}” ({campaign.starts_on} – {campaign.ends_on}): "
            f"{counts['approved']} approved, {counts['in_review']} in review, {counts['draft']} drafts."
        ))  # fmt: skip
