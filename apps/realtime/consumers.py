from channels.generic.websocket import AsyncWebsocketConsumer

from .groups import user_group

UNAUTHORIZED = 4401


class LiveConsumer(AsyncWebsocketConsumer):
    """One socket per signed-in browser, joined to its owner's group. It only forwards."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORIZED)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def dispatch(self, message):
        # Channels closes stale database connections before every handler, through a hop to the
        # one shared sync thread: with thousands of sockets that queue was the whole cost of a
        # live update. Forwarding an event touches no database, so it skips the hop.
        if message["type"] == "live.event":
            await self.live_event(message)
            return
        await super().dispatch(message)

    async def receive(self, text_data=None, bytes_data=None):
        # The socket is one-way; clients have nothing to say.
        pass

    async def live_event(self, event):
        await self.send(text_data=event["text"])
