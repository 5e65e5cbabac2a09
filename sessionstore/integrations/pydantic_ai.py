"""pydantic-ai's message history over sessionstore's transcripts (extra
``sessionstore[pydantic-ai]``; docs/integrations.md).

A conversation is one entry of the store, under a key of your choosing, created by the
first :meth:`MessageHistory.save`; each ``ModelMessage`` is one ``message`` event of its
transcript: a request with a user prompt is a ``user`` message, one that returns tool
results (or asks for a retry) a ``toolResult``, any other request a ``system`` one, and
a response an ``assistant`` message with its text and token ``usage``, so the entry's
counters and full-text search see the conversation. The message itself is kept in the
event's ``pydanticAiMessage`` field as ``ModelMessagesTypeAdapter`` serialises it (JSON
mode) and loads back equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Self

import orjson
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolReturnPart,
    UserPromptPart,
)

from sessionstore.asyncstore import AsyncSessionStore
from sessionstore.entry import validate_key
from sessionstore.integrations._history import (
    ActivityMarks,
    StoreOwner,
    append_creating,
    check_last,
    forget,
    last_events,
    open_owned,
)

__all__ = ["MESSAGE_FIELD", "MessageHistory", "message_event", "starts_a_turn"]

#: The field of a transcript event that holds the serialised ``ModelMessage``.
MESSAGE_FIELD = "pydanticAiMessage"


def starts_a_turn(message: ModelMessage) -> bool:
    """Whether a history may start at ``message``: a request with a user prompt that
    returns no tool result (a tool return or retry prompt answers a call in an earlier
    response, which providers refuse without that call)."""
    return (
        isinstance(message, ModelRequest)
        and not any(isinstance(part, ToolReturnPart | RetryPromptPart) for part in message.parts)
        and any(isinstance(part, UserPromptPart) for part in message.parts)
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def message_event(message: ModelMessage) -> dict[str, Any]:
    """The transcript event of one message (see the module), with an idempotency key
    that is the digest of its serialised form: saving a message twice writes it once.

    >>> from pydantic_ai.messages import ModelRequest
    >>> event = message_event(ModelRequest.user_text_prompt("hi"))
    >>> event["message"]["role"], event["message"]["content"]
    ('user', 'hi')
    """
    stored = ModelMessagesTypeAdapter.dump_python([message], mode="json")[0]
    body: dict[str, Any]
    if isinstance(message, ModelResponse):
        texts = [part.content for part in message.parts if isinstance(part, TextPart)]
        body = {
            "role": "assistant",
            "content": [{"type": "text", "text": text} for text in texts],
            "usage": {
                "input": message.usage.input_tokens,
                "output": message.usage.output_tokens,
            },
        }
    else:
        prompts = [part for part in message.parts if isinstance(part, UserPromptPart)]
        results = [p for p in message.parts if isinstance(p, ToolReturnPart | RetryPromptPart)]
        if starts_a_turn(message):
            body = {"role": "user", "content": "\n".join(_text(p.content) for p in prompts)}
        elif results:
            content = "\n".join(
                _text(part.content if isinstance(part, ToolReturnPart) else part.model_response())
                for part in results
            )
            body = {"role": "toolResult", "content": content}
        else:  # system prompts or retry feedback alone
            body = {"role": "system", "content": ""}
    digest = hashlib.sha256(orjson.dumps(stored, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return {
        "type": "message",
        "idempotencyKey": f"pydantic-ai:{digest}",
        "message": body,
        MESSAGE_FIELD: stored,
    }


class MessageHistory(StoreOwner):
    """The message histories of pydantic-ai conversations in a sessionstore store, one
    per session key: :meth:`load` gives ``message_history=``, :meth:`save` keeps a
    run's ``result.new_messages()``.

    Args:
        url: A target of :func:`~sessionstore.open_async_store`; the history opens the
            store and closes it in :meth:`close`.
        store: An open :class:`~sessionstore.AsyncSessionStore` to use instead.
        **options: Options of :func:`~sessionstore.open_async_store` with ``url``
            (``auto_upgrade`` defaults to True).

    >>> import asyncio, os, tempfile
    >>> from pydantic_ai.messages import ModelRequest
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "chats.db")
    >>> async def main():
    ...     async with MessageHistory(url=url) as history:
    ...         await history.save("pydantic-ai:chat-1", [ModelRequest.user_text_prompt("hi")])
    ...         return len(await history.load("pydantic-ai:chat-1", last=10))
    >>> asyncio.run(main())
    1
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        store: AsyncSessionStore | None = None,
        **options: Any,
    ) -> None:
        self.store, self._owned = open_owned(url, store, options)
        self._marks = ActivityMarks()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """A history on the store at ``url`` (see the class)."""
        return cls(url=url, **options)

    def __repr__(self) -> str:
        return f"MessageHistory(store={self.store!r})"

    async def load(self, key: str, *, last: int | None = None) -> list[ModelMessage]:
        """The conversation of ``key``, oldest first: every message, or with ``last``
        the longest run of at most ``last`` latest messages that starts a turn
        (:func:`starts_a_turn`: a user prompt, no tool result), so the history never
        begins inside a tool call and its return. ``[]`` for an unknown key, or when
        no turn starts within the last ``last`` messages."""
        validate_key(key)
        count = check_last(last, "last")
        events = await last_events(self.store, key, MESSAGE_FIELD, count)
        messages = ModelMessagesTypeAdapter.validate_python([e[MESSAGE_FIELD] for e in events])
        if count is None:
            return messages
        start = next((i for i, m in enumerate(messages) if starts_a_turn(m)), len(messages))
        return messages[start:]

    async def save(self, key: str, messages: Sequence[ModelMessage]) -> int:
        """Append ``messages`` (a run's ``result.new_messages()``) in one append,
        creating the conversation's entry on the first save; returns how many were
        written. A message already saved is skipped (matched by its digest), so saving
        ``result.all_messages()`` of a run on a loaded history writes only the new
        ones, and a retried save writes nothing twice."""
        validate_key(key)
        events = [message_event(m) for m in messages]
        return await append_creating(self.store, key, events, self._marks)

    async def clear(self, key: str) -> None:
        """Forget the conversation: its entry is deleted and its transcript archived as
        ``deleted`` (lifecycle's retention removes it later)."""
        validate_key(key)
        await forget(self.store, key)
