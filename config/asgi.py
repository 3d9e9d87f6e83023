"""ASGI entry point: HTTP through Django, websockets through the realtime app."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("DATABASE_POOL", "1")  # see DATABASES in the settings
django_asgi_app = get_asgi_application()

from apps.core.body_limit import daphne_body_limit_install  # noqa: E402

daphne_body_limit_install()  # bodies over REQUEST_MAX_BODY_BYTES are refused as they arrive

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.realtime.origin import SameOriginValidator  # noqa: E402
from apps.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Same origin first: it also refuses origins channels' own host check can't parse.
        "websocket": SameOriginValidator(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
