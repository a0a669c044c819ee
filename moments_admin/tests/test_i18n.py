"""The UI speaks Simplified Chinese and English; the compiled catalogue is complete."""

import gettext
import re
from pathlib import Path

from django.conf import settings

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"


def _po_entries():
    text = (CATALOGUE / "django.po").read_text()
    entries = {}
    for msgid_block, msgstr_block in re.findall(r'\nmsgid ((?:"[^\n]*"\n)+)msgstr ((?:"[^\n]*"\n)+)', text):
        msgid = "".join(re.findall(r'"(.*)"', msgid_block))
        if msgid:
            entries[msgid] = "".join(re.findall(r'"(.*)"', msgstr_block))
    return entries


def test_every_string_has_a_chinese_translation():
    untranslated = [msgid for msgid, msgstr in _po_entries().items() if not msgstr]
    assert untranslated == [], "run `make messages` and translate these"


def test_the_compiled_catalogue_matches_the_source():
    with open(CATALOGUE / "django.mo", "rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    stale = [msgid for msgid, msgstr in _po_entries().items() if catalogue.gettext(msgid) != msgstr]
    assert stale == [], "django.mo is stale: run `make messages`"


def test_the_admin_follows_the_browsers_language(client, directory, marketing_admin):
    client.force_login(marketing_admin)
    chinese = client.get("/admin/staff/associate/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    english = client.get("/admin/staff/associate/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "导购" in chinese and "已验证" in chinese
    assert "Associates" in english and "导购" not in english


def test_chinese_is_the_default_language(client, directory, marketing_admin):
    client.force_login(marketing_admin)
    assert "通讯录" in client.get("/admin/").content.decode()
