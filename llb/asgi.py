"""ASGI entry point: HTTP, the audio WebSocket, and the `asr`/`tts` worker channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llb.settings")
django_http = get_asgi_application()  # sets Django up before anything imports models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from streaming.realtime.auth import websocket_auth_stack  # noqa: E402
from streaming.realtime.routing import websocket_urlpatterns  # noqa: E402
from streaming.workers.routing import worker_channels  # noqa: E402
from streaming.workers.runtime import EmbeddedRuntime  # noqa: E402

application = EmbeddedRuntime(
    ProtocolTypeRouter(
        {
            "http": ASGIStaticFilesHandler(django_http) if settings.SERVE_STATIC else django_http,
            "websocket": websocket_auth_stack(URLRouter(websocket_urlpatterns)),
            "channel": worker_channels,
        }
    )
)
