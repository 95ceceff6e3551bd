"""An optional RQ queue class that enqueues a job in one Redis round trip.

django-tasks-rq asks django-rq for a new queue, on a new Redis client, at every
enqueue, and RQ's ``Queue.enqueue_job`` then talks to Redis three times: it registers
the queue in ``rq:queues``, asks the server's version (RQ keeps the answer on the
client, which is thrown away with the queue), and saves and pushes the job. This class
asks the version once per connection pool and sends the rest as one ``MULTI … EXEC``.
The job, its callbacks and what the worker reads are django-tasks-rq's, unchanged.

Turn it on per queue with django-rq's own setting, ``QUEUE_CLASS`` (docs/deployment.md).
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from django_rq.queues import DjangoRQ
from redis import ConnectionPool
from redis.client import Pipeline
from rq.job import Job

#: The server version of each connection pool seen in this process, asked once. A pool
#: per process (``REDIS_CLIENT_KWARGS``) keeps it; a pool made per enqueue takes it along.
_SERVER_VERSIONS: WeakKeyDictionary[ConnectionPool, tuple[int, int, int]] = WeakKeyDictionary()


class OneTripQueue(DjangoRQ):
    """django-rq's queue, with a plain enqueue sent to Redis in one transaction."""

    def get_redis_server_version(self) -> tuple[int, int, int]:
        pool = self.connection.connection_pool
        version = _SERVER_VERSIONS.get(pool)
        if version is None:
            version = _SERVER_VERSIONS[pool] = super().get_redis_server_version()
        return version

    def enqueue_job(
        self,
        job: Job,
        pipeline: Pipeline | None = None,
        at_front: bool = False,
        unique: bool = False,
    ) -> Job:
        """With no pipeline of the caller's, one is made here and run once; RQ's own
        path (dependencies that it must WATCH, rate limits, ``unique``, a synchronous
        queue) is left to RQ as it is."""
        if unique:  # RQ 3's atomic script; passed on only when asked for (older RQ lacks it)
            return super().enqueue_job(job, pipeline=pipeline, at_front=at_front, unique=True)
        if (
            pipeline is not None
            # RQ's public ``dependency_ids`` asks Redis; what the job was made with is
            # here. Should the attribute go away, every job takes RQ's own path.
            or getattr(job, "_dependency_ids", True)
            or getattr(job, "has_rate_limit", False)
            or not self.is_async
        ):
            return super().enqueue_job(job, pipeline=pipeline, at_front=at_front)
        with self.connection.pipeline() as pipe:
            job = super().enqueue_job(job, pipeline=pipe, at_front=at_front)
            pipe.execute()
        return job
