"""Transcript events, the rules both transcript tiers share.

An event is a JSON object in OpenClaw's transcript format (pi's ``SessionManager``,
version 3): a ``session`` header first, then ``message`` events and others, one per
line. Both tiers (:mod:`sessionstore.openclaw.transcripts`, the ``.jsonl`` files, and
:mod:`sessionstore.sql.transcripts`, the same database as the index) fill in ids the
same way, count messages and tokens the same way, name archives the same way and
search the same text with the same words.

>>> event = {"type": "message", "message": {"role": "user", "content": [
...     {"type": "text", "text": "Roll back"}, {"type": "toolResult", "content": "plan B"}]}}
>>> message_text(event).split()
['Roll', 'back', 'plan', 'B']
>>> search_words("rollback AND (plan*")
['rollback', 'and', 'plan']
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import orjson

from sessionstore.errors import InvalidArgumentError

__all__ = [
    "MAX_SEARCH_TEXT",
    "TRANSCRIPT_VERSION",
    "Tally",
    "archive_name",
    "check_archive",
    "checked_event",
    "event_time_ms",
    "filled_event",
    "header_event",
    "idempotency_key",
    "iso_ms",
    "message_text",
    "search_words",
    "snippet",
    "stamp_ms",
    "topic_of_file",
    "transcript_file_name",
    "words_of",
]

#: The transcript format version written in new headers (pi's CURRENT_SESSION_VERSION).
TRANSCRIPT_VERSION = 3
#: The most text of one event that search covers (characters); the rest is not indexed.
MAX_SEARCH_TEXT = 256 * 1024
#: Events are JSON objects: refuse Python values orjson would quietly turn into strings.
DUMP_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_WORD = re.compile(r"\w+")
_SNIPPET_CHARS = 80
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_ms(ms: int) -> str:
    """ISO-8601 UTC with milliseconds, as JavaScript's ``Date.toISOString``.

    >>> iso_ms(1774944000000)
    '2026-03-31T08:00:00.000Z'
    """
    moment = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_time_ms(event: Mapping[str, Any]) -> int | None:
    """The event's ``timestamp`` (ISO-8601 or epoch ms) in epoch ms, if it has one.

    >>> event_time_ms({"timestamp": "2026-03-31T08:00:00.000Z"}), event_time_ms({})
    (1774944000000, None)
    """
    value = event.get("timestamp")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) if abs(value) < 2**62 else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _epoch_ms(moment)


def _epoch_ms(moment: datetime) -> int:
    """``moment`` in epoch ms, exactly (a float timestamp times 1000 can come out 1 ms
    low)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass
class Tally:
    """Running counts over events: messages, and the ``usage`` of assistant messages."""

    messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None

    def add(self, event: Mapping[str, Any]) -> None:
        if event.get("type") != "message":
            return
        self.messages += 1
        message = event.get("message")
        if not isinstance(message, dict) or message.get("role") != "assistant":
            return
        usage = message.get("usage")
        if isinstance(usage, dict):
            self.input_tokens += _count(usage.get("input")) or 0
            self.output_tokens += _count(usage.get("output")) or 0
            if (total := _count(usage.get("totalTokens"))) is not None:
                self.total_tokens = total

    def entry_changes(
        self,
        message_count: int | None,
        input_tokens: int | None,
        output_tokens: int | None,
        full_count: Callable[[], int],
    ) -> dict[str, Any]:
        """The entry fields (JSON names) that appending these events to the entry's own
        transcript moves, given the entry's counters. An entry that never counted its
        messages gets the transcript's full count (``full_count()``, asked only then);
        tokens add up; the last ``totalTokens`` wins and is fresh.

        >>> tally = Tally(messages=2, input_tokens=5, output_tokens=7, total_tokens=40)
        >>> tally.entry_changes(3, None, 1, lambda: 0)
        {'messageCount': 5, 'inputTokens': 5, 'outputTokens': 8, 'totalTokens': 40, \
'totalTokensFresh': True}
        """
        changes: dict[str, Any] = {}
        if message_count is None:
            changes["messageCount"] = full_count()
        elif self.messages:
            changes["messageCount"] = message_count + self.messages
        if self.input_tokens or self.output_tokens or self.total_tokens is not None:
            changes["inputTokens"] = (input_tokens or 0) + self.input_tokens
            changes["outputTokens"] = (output_tokens or 0) + self.output_tokens
        if self.total_tokens is not None:
            changes["totalTokens"] = self.total_tokens
            changes["totalTokensFresh"] = True
        return changes

    def removal_changes(
        self,
        message_count: int | None,
        input_tokens: int | None,
        output_tokens: int | None,
        remaining: Callable[[], int],
        previous_total: Callable[[], int | None],
    ) -> dict[str, Any]:
        """The entry fields (JSON names) that removing these events from the end of the
        entry's own transcript moves back: the counts go down (never below 0; an entry
        that never counted its messages gets ``remaining()``, the messages left), and
        when a removed event set ``totalTokens``, it becomes ``previous_total()`` (the
        last one left), or stops being fresh when none is left.

        >>> Tally(messages=1, input_tokens=5, output_tokens=7, total_tokens=40).removal_changes(
        ...     3, 9, 7, lambda: 2, lambda: 25
        ... )
        {'messageCount': 2, 'inputTokens': 4, 'outputTokens': 0, 'totalTokens': 25}
        """
        changes: dict[str, Any] = {}
        if message_count is None:
            changes["messageCount"] = remaining()
        elif self.messages:
            changes["messageCount"] = max(0, message_count - self.messages)
        if self.input_tokens or self.output_tokens:
            changes["inputTokens"] = max(0, (input_tokens or 0) - self.input_tokens)
            changes["outputTokens"] = max(0, (output_tokens or 0) - self.output_tokens)
        if self.total_tokens is not None:
            previous = previous_total()
            if previous is None:
                changes["totalTokensFresh"] = False
            else:
                changes["totalTokens"] = previous
        return changes


def idempotency_key(event: Mapping[str, Any]) -> str | None:
    """The ``idempotencyKey`` of a message (on the message, else on the event)."""
    message = event.get("message")
    key = message.get("idempotencyKey") if isinstance(message, dict) else None
    key = key if key is not None else event.get("idempotencyKey")
    return key if isinstance(key, str) else None


def checked_event(event: Any) -> dict[str, Any]:
    """The event as a dict, refused (before anything is written) unless it is JSON."""
    if not isinstance(event, Mapping):
        raise InvalidArgumentError(f"an event must be a JSON object, got {type(event).__name__}")
    try:
        orjson.dumps(dict(event), option=DUMP_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise InvalidArgumentError(f"event is not JSON-serialisable: {exc}") from exc
    return dict(event)


def filled_event(
    event: dict[str, Any], ids: set[str], last_id: str | None, now_ms: int
) -> dict[str, Any]:
    """The event with missing ``id``/``parentId``/``timestamp`` added, after ``type``
    (pi's field order); an id new to the transcript (``ids``), like pi's ``generateId``.
    The id used is added to ``ids``."""
    fill: dict[str, Any] = {}
    if "id" not in event:
        while (new_id := secrets.token_hex(4)) in ids:
            pass
        fill["id"] = new_id
    if "parentId" not in event:
        fill["parentId"] = last_id
    if "timestamp" not in event:
        fill["timestamp"] = iso_ms(now_ms)
    if isinstance(event_id := event.get("id", fill.get("id")), str):
        ids.add(event_id)
    if not fill:
        return event
    head = {"type": event["type"]} if "type" in event else {}
    return {**head, **fill, **event}


def header_event(session_id: str, cwd: str, now_ms: int) -> dict[str, Any]:
    """A new transcript's first line, the version-3 ``session`` header."""
    return {
        "type": "session",
        "version": TRANSCRIPT_VERSION,
        "id": session_id,
        "timestamp": iso_ms(now_ms),
        "cwd": cwd,
    }


def transcript_file_name(session_id: str, topic_id: str | int | None) -> str:
    """OpenClaw's file name: ``<sessionId>.jsonl``, or with a topic
    ``<sessionId>-topic-<topic>.jsonl`` (strings encoded as ``encodeURIComponent``).

    >>> transcript_file_name("s1", "topic/a+b"), transcript_file_name("s1", 42)
    ('s1-topic-topic%2Fa%2Bb.jsonl', 's1-topic-42.jsonl')
    """
    if topic_id is None:
        return f"{session_id}.jsonl"
    if isinstance(topic_id, bool) or not isinstance(topic_id, str | int):
        raise InvalidArgumentError(f"topic id must be a str or an int, got {topic_id!r}")
    try:
        # encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) alone.
        topic = quote(topic_id, safe="!~*'()") if isinstance(topic_id, str) else str(topic_id)
    except UnicodeEncodeError as exc:  # a lone surrogate: encodeURIComponent throws too
        raise InvalidArgumentError(f"topic id {topic_id!r} is not valid Unicode") from exc
    return f"{session_id}-topic-{topic}.jsonl"


def topic_of_file(session_id: str, name: str) -> str | None:
    """The topic of an OpenClaw transcript file name of ``session_id``, if it has one.

    >>> topic_of_file("s1", "s1-topic-topic%2Fa%2Bb.jsonl"), topic_of_file("s1", "s1.jsonl")
    ('topic/a+b', None)
    """
    prefix = f"{session_id}-topic-"
    if not (name.startswith(prefix) and name.endswith(".jsonl")):
        return None
    return unquote(name[len(prefix) : -len(".jsonl")]) or None


def _stamp(ms: int) -> str:
    return iso_ms(ms).replace(":", "-")


#: The last millisecond an archive name can hold (year 9999).
_LAST_MS = 253_402_300_799_999


def check_archive(reason: str, now_ms: int | None) -> None:
    """Refuse an archive reason other than ``deleted`` or ``reset``, and a time that
    is not epoch ms of the years 1970 to 9999."""
    if reason not in ("deleted", "reset"):
        raise InvalidArgumentError(f"reason must be 'deleted' or 'reset', got {reason!r}")
    if now_ms is not None and (
        isinstance(now_ms, bool) or not isinstance(now_ms, int) or not 0 <= now_ms <= _LAST_MS
    ):
        raise InvalidArgumentError(f"now_ms must be epoch milliseconds, got {now_ms!r}")


def archive_name(file_name: str, reason: str, ms: int) -> str:
    """``<file>.<reason>.<ts>``, the time as ``2026-03-31T08-00-00.000Z``.

    >>> archive_name("s1.jsonl", "reset", 1774944000000)
    's1.jsonl.reset.2026-03-31T08-00-00.000Z'
    """
    return f"{file_name}.{reason}.{_stamp(ms)}"


def stamp_ms(stamp: str) -> int | None:
    """``2026-03-31T08-00-00.000Z`` (milliseconds optional) in epoch ms; ``None`` if it
    names no real time (month 13)."""
    iso = stamp[:10] + "T" + stamp[11:19].replace("-", ":") + stamp[19:].replace("Z", "+00:00")
    try:
        return _epoch_ms(datetime.fromisoformat(iso))
    except ValueError:
        return None


def _texts(value: Any, out: list[str]) -> None:
    """The ``text`` of content parts, depth first: strings, ``{"text": ...}`` parts and
    the ``content`` of nested parts (tool results)."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for part in value:
            _texts(part, out)
    elif isinstance(value, dict):
        if isinstance(value.get("text"), str):
            out.append(value["text"])
        if "content" in value:
            _texts(value["content"], out)


def message_text(event: Mapping[str, Any]) -> str | None:
    """The searchable text of a ``message`` event: its content whether a string or a
    list of parts (tool results included), at most :data:`MAX_SEARCH_TEXT` characters;
    ``None`` for other events and for messages without text."""
    message = event.get("message")
    if event.get("type") != "message" or not isinstance(message, dict):
        return None
    parts: list[str] = []
    _texts(message.get("content"), parts)
    text = "\n".join(part for part in parts if part)
    return text[:MAX_SEARCH_TEXT] or None


def search_words(query: str) -> list[str]:
    """The words of a search query, lower-cased, in order, each once: every other
    character (quotes, operators, wildcards) is a separator, so no query is syntax."""
    if not isinstance(query, str):
        raise InvalidArgumentError(f"a search query must be a string, got {query!r}")
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.casefold()):
        seen.setdefault(word, None)
    return list(seen)


def words_of(text: str) -> set[str]:
    """The words of ``text`` as :func:`search_words` finds them (the files tier's match)."""
    return set(_WORD.findall(text.casefold()))


def snippet(text: str, words: Iterable[str]) -> str:
    """About 80 characters of ``text`` around the first of ``words`` found, with
    ``…`` where it was cut.

    >>> snippet("a long story. The rollback plan is ready. More text follows here.", ["plan"])
    'a long story. The rollback plan is ready. More text follows here.'
    """
    # in the text itself: casefold() can change its length (ß -> ss)
    found = [
        m.start()
        for w in words
        if (m := re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE | re.UNICODE))
    ]
    at = min(found) if found else 0
    start = max(0, at - _SNIPPET_CHARS // 2)
    end = min(len(text), start + _SNIPPET_CHARS)
    start = max(0, min(start, end - _SNIPPET_CHARS))
    body = " ".join(text[start:end].split())
    return ("…" if start else "") + body + ("…" if end < len(text) else "")
