from django.urls import path

from streaming.realtime.consumer import AudioStreamConsumer

websocket_urlpatterns = [
    path("api/v1/audio-streaming/ws/<uuid:session_id>", AudioStreamConsumer.as_asgi()),
]
