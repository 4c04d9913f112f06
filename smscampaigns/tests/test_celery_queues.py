"""Tasks land on exactly one queue: a send batch is never copied into the webhooks queue, or back."""

from __future__ import annotations

import redis
from celery import Celery
from django.conf import settings


def test_each_queue_has_its_own_routing_key():
    from smscampaigns.celery import app

    queues = app.amqp.queues  # other tests may add queues of their own: look at the project's two
    assert queues["celery"].routing_key == "celery"
    assert queues[settings.WEBHOOKS_QUEUE].routing_key == settings.WEBHOOKS_QUEUE
    assert len({q.routing_key for q in settings.CELERY_TASK_QUEUES}) == len(settings.CELERY_TASK_QUEUES)


def test_a_task_is_published_to_one_queue_only(redis_url):
    url = redis_url.rsplit("/", 1)[0] + "/15"  # a scratch database, flushed
    client = redis.Redis.from_url(url)
    client.flushdb()
    from smscampaigns.celery import app as project

    # The project's queues exactly as its workers declare them, on a scratch broker.
    app = Celery("queues-test", broker=url)
    app.conf.update(
        task_queues=list(project.amqp.queues.values()), task_default_queue=settings.CELERY_TASK_DEFAULT_QUEUE
    )
    try:
        with app.connection_for_write() as conn:  # bind both queues, as a worker consuming both does
            for queue in app.amqp.queues.values():
                queue(conn.default_channel).declare()
        app.send_task("campaigns.tasks.messages_send", kwargs={"message_ids": []})
        app.send_task("integrations.tasks.webhook_delivery_attempt", queue=settings.WEBHOOKS_QUEUE)
        tick = settings.CELERY_BEAT_SCHEDULE["campaigns-sending-tick"]
        app.send_task(tick["task"], **tick["options"])  # as beat sends it
        lengths = [client.llen(q) for q in ("celery", settings.WEBHOOKS_QUEUE, settings.CONTROL_QUEUE)]
        assert lengths == [1, 1, 1]
    finally:
        client.flushdb()


def test_periodic_tasks_do_not_queue_behind_send_batches():
    """Every beat task goes to the control queue (or webhooks, for the dispatcher): none to the queue a campaign's
    batches fill at fan-out, where the tick would wait for the last batch to be taken."""
    queues = {name: entry.get("options", {}).get("queue") for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    assert queues["campaigns-sending-tick"] == settings.CONTROL_QUEUE
    assert queues["webhooks-dispatch"] == settings.WEBHOOKS_QUEUE
    assert set(queues.values()) == {settings.CONTROL_QUEUE, settings.WEBHOOKS_QUEUE}, queues
    assert settings.CONTROL_QUEUE in {q.name for q in settings.CELERY_TASK_QUEUES}
