"""``manage.py seed_demo``: the demo brand, built like production (see staff.demo)."""

from __future__ import annotations

import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from staff import demo
from staff.services import DirectoryError


class Command(BaseCommand):
    help = (
        "Build the demo brand: seed the WeCom sandbox with regions, stores, associates, customers and tags, "
        "sync the directory from it, and create admin, approver and manager logins with generated passwords."
    )

    def add_arguments(self, parser):
        defaults = demo.DemoSize()
        parser.add_argument("--associates", type=int, default=defaults.associates)
        parser.add_argument("--contacts-per-associate", type=int, default=defaults.contacts_per_associate)
        parser.add_argument("--unverified-share", type=float, default=defaults.unverified_share,
                            help="Share of associates whose account is unverified (0–1).")  # fmt: skip
        parser.add_argument("--seed", type=int, default=defaults.seed, help="Same seed, same brand.")
        parser.add_argument("--flush", action="store_true", help="Delete the existing directory first.")
        parser.add_argument("--if-empty", action="store_true",
                            help="Skip (showing the saved logins) when the directory already has data.")  # fmt: skip
        parser.add_argument("--no-logins", action="store_true", help="Do not create or reset the demo logins.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args, **options):
        # Before anything else, --flush included: the demo lives in the WeCom sandbox, which production
        # settings cannot enable, and its logins are written down in var/. Never on a real directory.
        if not settings.WECOM_SANDBOX:
            raise CommandError(
                "seed_demo builds the demo brand in the WeCom sandbox and is refused without it "
                "(production settings never enable the sandbox): nothing was changed."
            )
        size = demo.DemoSize(
            associates=options["associates"],
            contacts_per_associate=options["contacts_per_associate"],
            unverified_share=options["unverified_share"],
            seed=options["seed"],
        )
        if options["if_empty"] and not demo.directory_is_empty():
            self.stdout.write("The directory already has data; not seeding again.")
            self._show_saved_logins()
            return
        if options["flush"]:
            self.stdout.write("Removing the existing campaigns and directory…")
            call_command("seed_demo_campaign", flush_only=True)  # by name: staff does not import campaigns
            demo.directory_flush()

        bar: list[tqdm] = []

        def sync_progress(stage: str, done: int, total: int) -> None:
            if options["no_progress"]:
                return
            if not bar:
                bar.append(tqdm(total=total, desc="   sync from WeCom", unit=" members", file=sys.stderr))
            bar[0].update(done - bar[0].n)

        started = time.perf_counter()
        try:
            summary = demo.demo_brand_create(
                size=size,
                progress=not options["no_progress"],
                sync_progress=sync_progress,
                create_logins=not options["no_logins"],
            )
        except DirectoryError as error:
            raise CommandError(str(error)) from None
        finally:
            for each in bar:
                each.close()
        elapsed = time.perf_counter() - started
        counts = summary.sync_counts
        self.stdout.write(self.style.SUCCESS(
            f"Demo brand ready in {elapsed:.1f} s: the WeCom sandbox holds {summary.sandbox['members']:,} members, "
            f"{summary.sandbox['customers']:,} customers and {summary.sandbox['follows']:,} follows; the sync "
            f"brought in {counts.get('associates_created', 0):,} associates, "
            f"{counts.get('customers_created', 0):,} customers and {counts.get('contacts_created', 0):,} contacts."
        ))  # fmt: skip
        # The demo campaign (the campaigns app's own command, by name).
        call_command("seed_demo_campaign", stdout=self.stdout)
        if summary.logins:
            self._print_logins(summary.logins)

    def _print_logins(self, logins):
        self.stdout.write("Logins (also saved in var/demo-logins.txt):")
        for login in logins:
            self.stdout.write(f"  {login.role:<16} {login.username:<10} {login.password}")

    def _show_saved_logins(self):
        path = demo.logins_file()
        if not path.exists():
            return
        logins = []
        for line in path.read_text().splitlines():
            username, password, role = line.split("\t")
            logins.append(demo.DemoLogin(username, password, role))
        self._print_logins(logins)
