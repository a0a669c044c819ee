"""The sandbox's Celery tasks: the demo's behaviour model and callback pushes."""

from __future__ import annotations

from celery import shared_task

from wecom.sandbox import behaviour, events
from wecom.sandbox.models import CallbackDelivery

PUSH_RETRIES = 5


@shared_task(soft_time_limit=50, time_limit=60)
def behaviour_tick_task() -> dict:
    return behaviour.behaviour_tick()


@shared_task(soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def sandbox_seed_task(members: int, follows_per_member: int, unverified_share: float, seed: int, flush: bool) -> dict:
    """A seed too big for one HTTP request (the control plane queues it)."""
    import json

    from wecom.sandbox import brand

    size = brand.BrandSize(members=members, follows_per_member=follows_per_member,
                           unverified_share=unverified_share, seed=seed)  # fmt: skip
    size.validate()
    if flush:
        brand.sandbox_flush()
    return json.loads(brand.brand_create(size=size).as_json())


@shared_task(bind=True, max_retries=PUSH_RETRIES, acks_late=True)
def callback_push_task(self, delivery_id: int) -> None:
    """Push one event; retried with backoff while the app is down (as WeCom retries)."""
    delivery = CallbackDelivery.objects.filter(pk=delivery_id, delivered_at__isnull=True).first()
    if delivery is None:
        return
    if not events.callback_push(delivery):
        raise self.retry(countdown=min(60, 5 * 2**self.request.retries))
