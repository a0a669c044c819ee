"""Directory events other apps may act on, without staff importing them (DESIGN.md §2:
dependencies point ``campaigns → staff``, never back).

``contact_added``: a customer added an associate (WeCom's ``add_external_contact`` or
``add_half_external_contact``, wecom-api.md §6.7). Sent by ``staff.callbacks.callback_event_apply``
*before* the contact is reconciled with WeCom, because the event's ``WelcomeCode`` is good for
20 seconds only (docs/wecom-contact-way.md). Keyword arguments: ``event_id`` (CallbackEvent),
``userid``, ``external_userid``, ``state`` (the contact way's channel, may be empty),
``welcome_code`` (may be empty) and ``client`` (the WeCom client to use). A receiver must be
idempotent (a retried or replayed event sends it again) and may return a short note for the
event's outcome.
"""

from __future__ import annotations

from django.dispatch import Signal

contact_added = Signal()
