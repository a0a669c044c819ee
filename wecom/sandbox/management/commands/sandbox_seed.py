"""``manage.py sandbox_seed``: give the WeCom sandbox a brand directory (see wecom.sandbox.brand)."""

from __future__ import annotations

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from wecom.sandbox import brand


class Command(BaseCommand):
    help = "Seed the WeCom sandbox with a demo brand: departments, members, customers, tags and follows."

    def add_arguments(self, parser):
        defaults = brand.BrandSize()
        parser.add_argument("--associates", type=int, default=defaults.members, help="members (sales associates)")
        parser.add_argument("--contacts-per-associate", type=int, default=defaults.follows_per_member,
                            help="mean customers per member")  # fmt: skip
        parser.add_argument("--unverified-share", type=float, default=defaults.unverified_share,
                            help="share of members whose account is unverified (0–1)")  # fmt: skip
        parser.add_argument("--seed", type=int, default=defaults.seed, help="same seed, same brand")
        parser.add_argument("--flush", action="store_true", help="replace the sandbox's directory")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")
        parser.add_argument("--json", action="store_true", help="print a JSON summary (for scripts)")

    def handle(self, *args, **options):
        if not settings.WECOM_SANDBOX:
            raise CommandError("The WeCom sandbox is off (WECOM_SANDBOX=0): there is nothing to seed.")
        size = brand.BrandSize(
            members=options["associates"],
            follows_per_member=options["contacts_per_associate"],
            unverified_share=options["unverified_share"],
            seed=options["seed"],
        )
        bars: list[tqdm] = []

        def progress(label: str, total: int):
            if options["no_progress"]:
                return None
            for previous in bars:  # one table at a time
                previous.close()
            bars.append(tqdm(total=total, desc=f"{label:>12}", unit=" rows", unit_scale=True, file=sys.stderr))
            return bars[-1].update

        started = time.perf_counter()
        try:
            size.validate()
            if options["flush"]:
                brand.sandbox_flush()
            summary = brand.brand_create(size=size, progress=progress)
        except brand.BrandError as error:
            raise CommandError(str(error)) from None
        finally:
            for bar in bars:
                bar.close()
        elapsed = time.perf_counter() - started
        if options["json"]:
            return summary.as_json()
        self.stdout.write(self.style.SUCCESS(
            f"Sandbox brand created in {elapsed:.1f} s: {summary.departments:,} departments, {summary.members:,} "
            f"members, {summary.customers:,} customers, {summary.follows:,} follows, {summary.follow_tags:,} follow "
            f"tags ({summary.rows / elapsed:,.0f} rows/s)."
        ))  # fmt: skip
        return None
