"""The tests' Redis clean-up leaves Redis as a test found it, workers included."""

from __future__ import annotations

import uuid

import pytest

from tests.redis_queues import forget_queue, local_redis_url

REDIS_URL = local_redis_url()

pytestmark = [
    pytest.mark.nodb,
    pytest.mark.skipif(REDIS_URL is None, reason="no Redis server at 127.0.0.1:6379"),
]


def test_a_killed_workers_entries_are_forgotten_with_its_queue() -> None:
    """A worker killed mid-run never unregisters: its queue's clean-up removes it from RQ's
    set of all workers too, and leaves other workers' entries alone."""
    from redis import Redis
    from rq import Queue
    from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY

    assert REDIS_URL is not None
    connection = Redis.from_url(REDIS_URL)
    name = f"test-forget-{uuid.uuid4().hex}"
    dead, other = f"rq:worker:{name}-dead", f"rq:worker:other-{uuid.uuid4().hex}"
    connection.hset(dead, "queues", name)
    connection.sadd(REDIS_WORKER_KEYS, dead, other)
    connection.sadd(WORKERS_BY_QUEUE_KEY % name, dead)
    Queue(name, connection=connection).enqueue("builtins.print", "x")
    try:
        forget_queue(connection, name)
        assert not connection.sismember(REDIS_WORKER_KEYS, dead)
        assert connection.sismember(REDIS_WORKER_KEYS, other)
        assert not connection.exists(dead)
        assert not list(connection.scan_iter(match=f"*{name}*"))
    finally:
        connection.srem(REDIS_WORKER_KEYS, dead, other)
        connection.delete(dead, WORKERS_BY_QUEUE_KEY % name)
