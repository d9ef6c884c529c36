"""Redis for the tests: the local server's address when one answers, and leaving Redis as a
test found it (every key of a test's own RQ queue, and its jobs)."""

from __future__ import annotations

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY


def local_redis_url() -> str | None:
    """The local Redis server's address, or None when none answers (tests then skip)."""
    url = "redis://127.0.0.1:6379/0"
    try:
        Redis.from_url(url, socket_connect_timeout=1).ping()
    except RedisError:
        return None
    return url


def forget_queue(connection: Redis, name: str) -> None:
    """Delete the queue, its jobs (waiting or in any registry) and their results, its workers'
    entries (also in RQ's list of all workers), and every other key naming the queue
    (registries, the runner's one-job-per-run keys)."""
    queue = Queue(name, connection=connection)
    # The queue's workers. A killed one never unregistered itself, so RQ's set of all
    # workers still names it; one that stopped keeps its hash (with its death) a minute.
    worker_keys = set(connection.smembers(WORKERS_BY_QUEUE_KEY % name))
    for key in connection.scan_iter(match="rq:worker:*", _type="hash"):
        queues = connection.hget(key, "queues") or b""
        if name.encode() in queues.split(b","):
            worker_keys.add(key)
    if worker_keys:
        connection.srem(REDIS_WORKER_KEYS, *worker_keys)
        connection.delete(*worker_keys, *(key + b":executions" for key in worker_keys))
    job_ids = set(queue.get_job_ids())
    for registry in (
        StartedJobRegistry,
        FinishedJobRegistry,
        FailedJobRegistry,
        DeferredJobRegistry,
        ScheduledJobRegistry,
    ):
        job_ids.update(registry(name, connection=connection).get_job_ids())
    queue.delete(delete_jobs=True)
    for job_id in job_ids:
        connection.delete(f"rq:job:{job_id}", f"rq:results:{job_id}", f"rq:executions:{job_id}")
        for key in connection.scan_iter(match=f"rq:execution:{job_id}:*"):
            connection.delete(key)
    for key in connection.scan_iter(match=f"*{name}*"):
        connection.delete(key)
