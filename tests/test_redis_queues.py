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
    dead = f"rq:worker:{uuid.uuid4().hex}"  # killed: still listed everywhere
    stopped = f"rq:worker:{uuid.uuid4().hex}"  # unregistered; its hash kept with its death
    other = f"rq:worker:{uuid.uuid4().hex}"  # another queue's, alive
    connection.hset(dead, "queues", f"elsewhere,{name}")
    connection.hset(stopped, mapping={"queues": name, "death": "2026-12-01T01:48:59Z"})
    connection.hset(other, "queues", f"{name}-not")
    connection.sadd(f"{dead}:executions", "job:1")
    connection.sadd(REDIS_WORKER_KEYS, dead, other)
    connection.sadd(WORKERS_BY_QUEUE_KEY % name, dead)
    job = Queue(name, connection=connection).enqueue("builtins.print", "x")
    connection.zadd(f"rq:executions:{job.id}", {"1": 1})
    connection.hset(f"rq:execution:{job.id}:1", "worker_name", dead)
    try:
        forget_queue(connection, name)
        assert not connection.sismember(REDIS_WORKER_KEYS, dead)
        assert connection.sismember(REDIS_WORKER_KEYS, other) and connection.exists(other)
        left = [dead, stopped, f"{dead}:executions", f"rq:executions:{job.id}"]
        assert not connection.exists(*left, f"rq:execution:{job.id}:1")
        assert not list(connection.scan_iter(match=f"*{name}*"))
    finally:
        connection.srem(REDIS_WORKER_KEYS, dead, other)
        connection.delete(dead, stopped, other, f"{dead}:executions", WORKERS_BY_QUEUE_KEY % name)
