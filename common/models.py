"""What operations watch, domain-free: each Celery queue's last heartbeat."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    """The last time a worker of ``queue`` ran the heartbeat task that beat sends it every minute:
    beat is up, and the queue has a worker that keeps up (``/healthz/queues``)."""

    queue = models.CharField(_("queue"), max_length=64, unique=True)
    beat_at = models.DateTimeField(_("last heartbeat"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")
        default_permissions = ()  # nobody edits these: the workers write them

    def __str__(self) -> str:
        return f"{self.queue} {self.beat_at:%Y-%m-%d %H:%M:%S}"
