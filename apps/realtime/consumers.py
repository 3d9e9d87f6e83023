from channels.generic.websocket import AsyncWebsocketConsumer

from .groups import session_group, user_group

UNAUTHORIZED = 4401


class LiveConsumer(AsyncWebsocketConsumer):
    """One socket per signed-in browser, joined to its owner's group. It only forwards."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORIZED)
            return
        # The owner's group for events (and deactivation); the session's so that signing out of it
        # closes this socket too.
        session_key = getattr(self.scope.get("session"), "session_key", None)
        self.groups_joined = [user_group(user.pk)] + ([session_group(session_key)] if session_key else [])
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

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

    async def live_end(self, event):
        """The session signed out, or the account was deactivated: nothing more for this socket."""
        await self.close(code=UNAUTHORIZED)
