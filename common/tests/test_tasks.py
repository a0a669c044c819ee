"""TransactionAwareTask against the configured broker (CI: Redis): a message queued inside a transaction leaves
when it commits and never if it rolls back; outside one it leaves at once. The messages are read back from a
private queue."""

from __future__ import annotations

import uuid

import pytest
from celery import current_app, shared_task
from django.db import transaction
from kombu import Exchange, Queue

from common.tasks import TransactionAwareTask, heartbeat_task, task_named

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: the test's own atomic blocks are outermost


@shared_task(base=TransactionAwareTask)
def probe_task(label: str) -> str:
    return label


@pytest.fixture
def queue():
    """A queue of this test's own on the broker; ``queue.sent()``: the labels of the messages in it, taken out."""
    name = f"test-transaction-aware-{uuid.uuid4().hex}"
    declared = Queue(name, Exchange(name), routing_key=name)
    with current_app.connection_for_write() as connection:
        channel = connection.default_channel
        bound = declared(channel)
        bound.declare()

        def sent() -> list[str]:
            labels = []
            while (message := bound.get(no_ack=True)) is not None:
                args, _kwargs, _embed = message.decode()
                labels.append(args[0])
            return labels

        bound.sent = sent
        bound.send = lambda label: probe_task.apply_async(args=[label], queue=name)
        yield bound
        bound.delete()


def test_outside_a_transaction_the_message_leaves_at_once(queue):
    result = queue.send("now")
    assert result is not None and result.id
    assert queue.sent() == ["now"]


def test_inside_a_transaction_it_leaves_on_commit(queue):
    with transaction.atomic():
        assert queue.send("after commit") is None
        assert queue.sent() == []  # nothing on the broker yet
    assert queue.sent() == ["after commit"]


def test_a_rolled_back_transaction_sends_nothing(queue):
    with pytest.raises(RuntimeError), transaction.atomic():
        queue.send("never")
        raise RuntimeError
    with transaction.atomic():
        with transaction.atomic():  # a savepoint rolled back inside a transaction that commits
            queue.send("rolled back")
            transaction.set_rollback(True)
        queue.send("kept")
    assert queue.sent() == ["kept"]


def test_a_signature_goes_through_the_same_door(queue):
    """``delay`` is ``apply_async``; a Signature (what Celery's ``retry`` sends) calls its task's ``apply_async``."""
    with transaction.atomic():
        assert probe_task.s("signed").set(queue=queue.name).delay() is None
        assert queue.sent() == []
    assert queue.sent() == ["signed"]


def test_a_domain_module_names_its_task():
    assert task_named(probe_task.name) is probe_task._get_current_object()  # shared_task gives a proxy
    with pytest.raises(TypeError):
        task_named(heartbeat_task.name)  # not transaction-aware: a domain call site must not use it
