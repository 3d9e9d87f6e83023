"""The embedded mode's channel layer: in memory, safe to call from the in-process worker.

InMemoryChannelLayer's queues belong to the server's event loop. The worker threads publish
from loops of their own, so their sends are handed to the server loop.
"""

import asyncio

from channels.layers import InMemoryChannelLayer


class EmbeddedChannelLayer(InMemoryChannelLayer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._server_loop: asyncio.AbstractEventLoop | None = None

    async def _on_server_loop(self, coro):
        loop = asyncio.get_running_loop()
        if self._server_loop is None or self._server_loop is loop or self._server_loop.is_closed():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._server_loop))

    async def group_add(self, group, channel):
        self._server_loop = asyncio.get_running_loop()
        return await super().group_add(group, channel)

    async def send(self, channel, message):
        return await self._on_server_loop(super().send(channel, message))

    async def group_send(self, group, message):
        return await self._on_server_loop(super().group_send(group, message))
