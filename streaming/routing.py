from channels.routing import ChannelNameRouter
from django.urls import path

from .consumers import AudioStreamConsumer
from .workers import ASR_CHANNEL, ASR_FINAL_CHANNEL, AsrWorker, TtsWorker

websocket_urlpatterns = [
    path("api/v1/audio-streaming/ws/<uuid:session_id>", AudioStreamConsumer.as_asgi()),
]

worker_channels = ChannelNameRouter(
    {ASR_CHANNEL: AsrWorker.as_asgi(), ASR_FINAL_CHANNEL: AsrWorker.as_asgi(), "tts": TtsWorker.as_asgi()}
)
