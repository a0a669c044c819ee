"""Django's makemessages without fuzzy matching: msgmerge's guesses (e.g. "channel"
offered for "changes") are wrong more often than right, and msgfmt skips fuzzy
entries, leaving them untranslated without a word. New strings stay empty instead,
which the i18n test reports."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    msgmerge_options = [*makemessages.Command.msgmerge_options, "--no-fuzzy-matching"]
