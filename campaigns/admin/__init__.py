"""Campaign drafting in the admin (django-unfold): campaigns with their moments,
moments with their variants, variants with photos, hashtags, a call to action
and a phone-feed preview; the libraries; a calendar of moments; the workflow
as buttons on the moment and campaign pages. Every write goes through
``campaigns.services``; forms use ``campaigns.rules`` for their messages."""

from campaigns.admin import libraries, plans, variants  # noqa: F401 - registers the ModelAdmins
