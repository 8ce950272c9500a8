"""The channel-layer contract between the WebSocket consumer and the workers: channel and group names."""

ASR_CHANNEL = "asr"
# Final decodes (the end of an utterance) have a channel of their own, with slots and a model
# reserved in every ASR worker (ASR_FINAL_SLOTS): a student's final text does not queue behind
# the partials of every other session, and its decode gets a core before theirs.
ASR_FINAL_CHANNEL = "asr-final"
TTS_CHANNEL = "tts"
WORKER_CHANNELS = {"asr": (ASR_CHANNEL, ASR_FINAL_CHANNEL), "tts": (TTS_CHANNEL,)}  # each kind's slot pools
ALL_WORKER_CHANNELS = tuple(c for pools in WORKER_CHANNELS.values() for c in pools)


def session_group(session_id) -> str:
    """The group of the connection holding a session (it hears `session.ended` / `session.superseded`)."""
    return f"session.{session_id}"
