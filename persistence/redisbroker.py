"""The production broker: kombu's Redis transport, with one client per channel for its commands.

kombu builds a new `redis.Redis` for every command it sends outside the consumer's blocking pop
(`Channel.conn_or_acquire`), and building one fills its table of about 170 response callbacks:
a fifth of the CPU of a task's publish. A `redis.Redis` on a connection pool is safe to share
between threads (each command takes a connection from the pool for its duration), so here one
serves every such command of the channel, and a new one is made only with a new pool.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _commands = None  # the channel's client for `conn_or_acquire`, on its current pool

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._commands
        if client is None or client.connection_pool is not self.pool:
            client = self._commands = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
