"""kombu's Redis transport, as Celery's broker, with the web process's Redis fixes and one client per pool.

config.py names it in Celery's `broker_transport` for `redis://` and `rediss://` broker URLs. Three differences from
kombu's own, each for a reason measured or reproduced with the app's own pool
(redis_connection.py, extensions.init_redis):

- kombu builds a `redis.Redis` for every publish, and redis-py 8's constructor copies its few hundred response
  callbacks into a new dict each time: 5.0% of a new post's web CPU (py-spy on the bench host). A `redis.Redis`
  keeps no connection of its own (each command takes one from the pool), so one per pool serves every publish.
- Plain TCP connections check "anything waiting?" on checkout without a turn of gevent's hub
  (`HublessCheckConnection`); kombu switches to its SSL or unix-socket class for those URLs itself.
- Maintenance notifications are off, as on the app's pool: while they are "auto" (redis-py 8's default) the pool
  ignores that check and may hand out a connection holding another command's unread reply.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from redis.maint_notifications import MaintNotificationsConfig

from raindrop_server.redis_connection import HublessCheckConnection


class Channel(kombu_redis.Channel):
    connection_class = HublessCheckConnection
    _sync_client: redis.Redis | None = None

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        params = super()._connparams(asynchronous=asynchronous)
        params["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
        return params

    def _create_client(self, asynchronous: bool = False) -> redis.Redis:
        if asynchronous:  # the worker's BRPOP/pub-sub clients, each with a state of its own
            return super()._create_client(asynchronous=True)
        # kombu drops its pools when a connection fails or closes; a new pool gets a new client.
        pool = self.pool
        if self._sync_client is None or self._sync_client.connection_pool is not pool:
            self._sync_client = super()._create_client()
        return self._sync_client


class Transport(kombu_redis.Transport):
    Channel = Channel
