"""The RESPONDER hook: answer each final user utterance with an OpenAI-compatible chat model.

Tokens stream in; each finished sentence is spoken at once, so the student hears the first
sentence while the model is still writing the rest. Failures are told to the client.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
from django.conf import settings

from streaming.core.text_split import split_sentences
from streaming.db import database_sync_to_async
from streaming.models import ConversationEntry, EntryRole
from streaming.realtime.link import Link
from streaming.realtime.speaking import SpokenReplies

log = logging.getLogger(__name__)


def conversation(session_id, limit: int) -> list[dict]:
    """The system prompt and the latest entries as chat messages, oldest first."""
    entries = list(ConversationEntry.objects.filter(session_id=session_id).order_by("-sequence")[:limit])
    messages = [{"role": "system", "content": settings.RESPONDER_SYSTEM_PROMPT}]
    for entry in reversed(entries):
        messages.append({"role": "user" if entry.role == EntryRole.USER else "assistant", "content": entry.text})
    return messages


async def stream_completion(messages: list[dict]) -> AsyncIterator[str]:
    """Yield content deltas from a streaming chat-completions endpoint (server-sent events)."""
    headers = {"Authorization": f"Bearer {settings.RESPONDER_API_KEY}"} if settings.RESPONDER_API_KEY else {}
    body = {"model": settings.RESPONDER_MODEL, "messages": messages, "stream": True}
    timeout = httpx.Timeout(settings.RESPONDER_TIMEOUT)
    async with (
        httpx.AsyncClient(timeout=timeout) as client,
        client.stream("POST", settings.RESPONDER_URL, json=body, headers=headers) as response,
    ):
        if response.status_code != 200:
            raise httpx.HTTPStatusError(
                f"responder answered {response.status_code}", request=response.request, response=response
            )
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            choices = json.loads(payload).get("choices") or [{}]
            delta = choices[0].get("delta", {}).get("content")
            if delta:
                yield delta


def unfinished_tail(text: str, sentences: list[str]) -> str:
    """The last, still growing piece as it came (trailing space kept, so the next token joins it)."""
    if not sentences:
        return ""
    start = text.rfind(sentences[-1])
    return text[start:] if start >= 0 else sentences[-1]


async def answer(link: Link, replies: SpokenReplies, language: str) -> None:
    """Ask the model about the conversation so far and speak its answer sentence by sentence."""
    messages = await database_sync_to_async(conversation)(link.session_id, settings.RESPONDER_HISTORY)
    reply = replies.open_reply(language)
    pending = ""
    try:
        async with asyncio.timeout(settings.RESPONDER_TIMEOUT):
            async for delta in stream_completion(messages):
                pending += delta
                sentences = split_sentences(pending)
                # The last piece may still grow; everything before it is a finished sentence.
                for sentence in sentences[:-1]:
                    await replies.add_reply_part(reply, sentence)
                pending = unfinished_tail(pending, sentences)
    except (TimeoutError, httpx.HTTPError, ValueError) as exc:
        log.warning("responder failed: %s", exc)
        await replies.reply_failed(reply, "responder_failed", f"The tutor could not answer: {exc or 'timed out'}")
        return
    if pending.strip():
        await replies.add_reply_part(reply, pending)
    await replies.close_reply(reply)


async def respond(link: Link, replies: SpokenReplies, user_text: str) -> None:
    """The cue of each persisted user utterance: answer it in the background, if a model is set."""
    if settings.RESPONDER == "openai" and user_text:
        link.background(answer(link, replies, replies.reply_language()))
