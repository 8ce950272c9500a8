from channels.routing import ChannelNameRouter

from streaming.asr_models import all_asr_channels
from streaming.realtime.messages import TTS_CHANNEL
from streaming.workers.consumers import AsrWorker, TtsWorker

worker_channels = ChannelNameRouter(
    {**{channel: AsrWorker.as_asgi() for channel in all_asr_channels()}, TTS_CHANNEL: TtsWorker.as_asgi()}
)
