"""``manage.py seed_demo``: create the demo brand (see staff.demo)."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from staff import demo
from staff.services import DirectoryError


class Command(BaseCommand):
    help = (
        "Create a believable demo brand: regions, stores, associates, customers, tags and contacts, "
        "plus admin, approver and manager logins with generated passwords."
    )

    def add_arguments(self, parser):
        parser.add_argument("--associates", type=int, default=demo.DemoSize.associates)
        parser.add_argument("--contacts-per-associate", type=int, default=demo.DemoSize.contacts_per_associate)
        parser.add_argument(
            "--unverified-share",
            type=float,
            default=demo.DemoSize.unverified_share,
            help="Share of associates whose account is unverified (0–1).",
        )
        parser.add_argument("--seed", type=int, default=demo.DemoSize.seed, help="Same seed, same brand.")
        parser.add_argument("--flush", action="store_true", help="Delete the existing directory first.")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (and show the saved logins) when the directory already has data.",
        )
        parser.add_argument("--no-logins", action="store_true", help="Do not create or reset the demo logins.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args, **options):
        size = demo.DemoSize(
            associates=options["associates"],
            contacts_per_associate=options["contacts_per_associate"],
            unverified_share=options["unverified_share"],
            seed=options["seed"],
        )
        try:
            size.validate()
        except DirectoryError as error:
            raise CommandError(str(error)) from None
        if options["if_empty"] and not demo.directory_is_empty():
            self.stdout.write("The directory already has data; not seeding again.")
            self._show_saved_logins()
            return
        if options["flush"]:
            self.stdout.write("Removing the existing directory…")
            demo.directory_flush()

        bars: list[tqdm] = []

        def progress(label: str, total: int):
            if options["no_progress"]:
                return None
            for previous in bars:  # one table at a time: finish the previous bar
                previous.close()
            bar = tqdm(
                total=total,
                desc=f"{label:>12}",
                unit=" rows",
                unit_scale=True,
                file=sys.stderr,
                leave=True,
                dynamic_ncols=True,
            )
            bars.append(bar)
            return bar.update

        started = time.perf_counter()
        try:
            summary = demo.demo_directory_create(size=size, progress=progress, create_logins=not options["no_logins"])
        except DirectoryError as error:
            raise CommandError(str(error)) from None
        finally:
            for bar in bars:
                bar.close()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo brand created in {elapsed:.1f} s: {summary.departments:,} departments, "
                f"{summary.associates:,} associates, {summary.customers:,} customers, {summary.contacts:,} contacts, "
                f"{summary.contact_tags:,} contact tags ({summary.rows / elapsed:,.0f} rows/s)."
            )
        )
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
