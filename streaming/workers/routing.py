from channels.routing import ChannelNameRouter

from streaming.realtime.messages import ASR_CHANNEL, ASR_FINAL_CHANNEL, TTS_CHANNEL
from streaming.workers.consumers import AsrWorker, TtsWorker

worker_channels = ChannelNameRouter(
    {ASR_CHANNEL: AsrWorker.as_asgi(), ASR_FINAL_CHANNEL: AsrWorker.as_asgi(), TTS_CHANNEL: TtsWorker.as_asgi()}
)
