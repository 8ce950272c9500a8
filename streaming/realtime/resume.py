"""Resuming a session on a new connection: the dropped connection's turn is finished and handed
over, and the new connection learns where its client resumes (docs/decisions/0046).

A connection that closes mid-turn decodes the audio it received, saves the turn, and leaves the
final its client never received for the next connection; the next connection waits for that
(bounded) before it reads the resume point, so the client is never told to send again audio
whose words are being saved.
"""

import asyncio
import time

from channels.layers import BaseChannelLayer
from django.conf import settings

from streaming import services
from streaming.db import database_sync_to_async
from streaming.models import StreamingSession
from streaming.outages import call_database
from streaming.realtime.recognition import Recognition

# The dropped turn's final decode is waited for this long at most (ASR_TIMEOUT if shorter): one
# decode, well within it unless the workers are swamped. A process that dies while decoding leaves
# its mark, and its session's next connection waits this long (plus the margin) for nothing.
DECODE_WITHIN_S = 5.0
HANDOVER_MARGIN_S = 2.0  # beyond the decode's bound: the save, the counters and the handover's write
WAIT_STEP_S = 0.1


async def finish_dropped_turn(recognition: Recognition, layer: BaseChannelLayer) -> list[dict]:
    """Finish the turn in progress of a closed connection, within DECODE_WITHIN_S: the finals for
    the next connection. The caller writes the counters, then `hand_over` them."""
    within = min(settings.ASR_TIMEOUT, DECODE_WITHIN_S)
    session_id = recognition.link.session_id
    await call_database(
        "marking a dropped turn", services.begin_handover, session_id, until=time.time() + within + HANDOVER_MARGIN_S
    )
    channel = await layer.new_channel()
    return await recognition.finish_dropped(channel, lambda: layer.receive(channel), within)


async def hand_over(session_id, finals: list[dict]) -> None:
    await call_database("handing over a dropped turn", services.end_handover, session_id, finals=finals)


async def take_over(session: StreamingSession) -> tuple[StreamingSession, list[dict]]:
    """Wait while a dropped connection of the session finishes its turn (at most until the time it
    set); then the session at its resume point and the finals to send after `connected`."""
    while (until := session.handover.get("finishing_until")) is not None and until > time.time():
        await asyncio.sleep(WAIT_STEP_S)
        session = await database_sync_to_async(StreamingSession.objects.get)(pk=session.pk)
    return await database_sync_to_async(services.take_over)(session.pk)
