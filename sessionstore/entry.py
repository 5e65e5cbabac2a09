"""Public data models: :class:`SessionEntry`, :class:`SessionSummary`, :class:`SessionPage`.

``SessionEntry`` mirrors OpenClaw's entry. The fields of the hot index are typed with
snake_case names; the JSON form keeps OpenClaw's camelCase. Every other field is kept
untouched in ``model_extra``, so data written by newer OpenClaw versions round-trips.

>>> e = SessionEntry(session_id="abc", updated_at=1774962000000, thinkingLevel="low")
>>> e.to_dict()
{'sessionId': 'abc', 'updatedAt': 1774962000000, 'thinkingLevel': 'low'}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Self

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from sessionstore.errors import InvalidArgumentError, InvalidEntryError

__all__ = [
    "MAX_ENTRY_BYTES",
    "MAX_KEY_BYTES",
    "MAX_TIMESTAMP_MS",
    "SessionEntry",
    "SessionPage",
    "SessionSummary",
    "as_entry",
    "check_size",
    "encode_entry",
    "json_names",
    "validate_agent_id",
    "validate_key",
]

#: Longest session key accepted, in bytes of UTF-8 (so it stays indexable on MySQL).
MAX_KEY_BYTES = 1024
#: Default largest entry a store accepts, in bytes of compact JSON (``max_entry_bytes``).
MAX_ENTRY_BYTES = 8 * 1024 * 1024
#: Latest timestamp accepted: 9999-12-31T23:59:59.999Z in epoch milliseconds.
MAX_TIMESTAMP_MS = 253_402_300_799_999

# OpenClaw's SAFE_SESSION_ID_RE: 1-128 chars, first alphanumeric, rest [A-Za-z0-9._-].
_SAFE_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# ...and not shaped like a compaction checkpoint file: <parentId>.checkpoint.<uuid>
_CHECKPOINT_SHAPE = re.compile(
    r".*\.checkpoint\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I
)

_TRUSTED = "sessionstore.trusted"
_CHECKED_EXTRAS = "sessionstore.checked_extras"
# OpenClaw's normalised agent ids: lowercase [a-z0-9_-], at most 64 characters.
_AGENT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

OptionalTimestamp = Annotated[int | None, Field(ge=0, le=MAX_TIMESTAMP_MS)]
OptionalCount = Annotated[int | None, Field(ge=0)]


def validate_key(key: object) -> str:
    """Check a session key and return it; raise :class:`InvalidEntryError` if unusable.

    >>> validate_key("agent:main:main")
    'agent:main:main'
    """
    if not isinstance(key, str):
        raise InvalidEntryError(f"session key must be a string, got {type(key).__name__}")
    if not key.strip():
        raise InvalidEntryError("session key must not be empty")
    if "\x00" in key:
        raise InvalidEntryError("session key must not contain NUL characters")
    try:
        size = len(key.encode())
    except UnicodeEncodeError as exc:
        raise InvalidEntryError("session key is not valid Unicode (lone surrogate)") from exc
    if size > MAX_KEY_BYTES:
        raise InvalidEntryError(
            f"session key is {size} bytes of UTF-8, the maximum is {MAX_KEY_BYTES}"
        )
    return key


def validate_agent_id(agent_id: object) -> str:
    """Check an agent id (OpenClaw's normalised form) and return it.

    >>> validate_agent_id("main")
    'main'
    """
    if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
        raise InvalidArgumentError(
            f"agent id {agent_id!r} is not valid: 1-64 characters of a-z, 0-9, '_' and '-'"
        )
    return agent_id


def _check_json_value(value: Any, path: str) -> None:
    """Reject what JSON (or one of the databases) cannot hold, naming where it is."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path}: strings must not contain NUL characters")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ValueError(f"{path}: integer {value} does not fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is not a JSON number (NaN and Infinity are not)")
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{path}: object keys must be strings, got {k!r}")
            if "\x00" in k:
                raise ValueError(f"{path}: object keys must not contain NUL characters")
            _check_json_value(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json_value(v, f"{path}[{i}]")
    else:
        raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")


class SessionEntry(BaseModel):
    """One session's metadata, as OpenClaw stores it in ``sessions.json``.

    Required: ``session_id`` (``sessionId``) and ``updated_at`` (``updatedAt``, epoch
    milliseconds). The constructor raises pydantic's ``ValidationError`` (a
    ``ValueError``); :meth:`from_dict` raises :class:`InvalidEntryError`.
    Unknown fields are kept as given; values keep their JSON types
    (``lastThreadId`` 42 stays a number, ``"42"`` a string).

    >>> e = SessionEntry.from_dict({"sessionId": "s1", "updatedAt": 5, "lastThreadId": 42})
    >>> e.last_thread_id, e.to_dict()["lastThreadId"]
    (42, 42)
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
        strict=True,
        frozen=True,
    )

    session_id: str
    updated_at: int = Field(ge=0, le=MAX_TIMESTAMP_MS)
    session_started_at: OptionalTimestamp = None
    session_file: str | None = None
    chat_type: str | None = None
    channel: str | None = None
    last_channel: str | None = None
    last_to: str | None = None
    last_account_id: str | None = None
    last_thread_id: str | int | None = None
    label: str | None = None
    display_name: str | None = None
    status: str | None = None
    model: str | None = None
    model_provider: str | None = None
    input_tokens: OptionalCount = None
    output_tokens: OptionalCount = None
    total_tokens: OptionalCount = None
    context_tokens: OptionalCount = None
    message_count: OptionalCount = None
    archived_at: OptionalTimestamp = None
    spawned_by: str | None = None

    def __eq__(self, other: object) -> bool:
        # Equal when the JSON is: an explicit null differs from an absent field.
        if not isinstance(other, SessionEntry):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    @field_validator("session_id")
    @classmethod
    def _safe_session_id(cls, value: str) -> str:
        if not _SAFE_SESSION_ID.fullmatch(value) or _CHECKPOINT_SHAPE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a safe session id: 1-128 characters, the first a letter "
                "or digit, the rest letters, digits, '.', '_' or '-'"
            )
        return value

    @model_validator(mode="after")
    def _json_compatible(self, info: ValidationInfo) -> Self:
        # Values read back from our own store were checked when written.
        if info.context and info.context.get(_TRUSTED):
            return self
        # Unknown fields copied from an entry validated before need no second walk.
        checked = info.context.get(_CHECKED_EXTRAS, ()) if info.context else ()
        for name, value in (self.__pydantic_extra__ or {}).items():
            if name not in checked:
                _check_json_value(value, name)
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{field.alias}: strings must not contain NUL characters")
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionEntry:
        """Validate a JSON object (camelCase keys) into an entry.

        Raises :class:`~sessionstore.errors.InvalidEntryError` naming the bad field.

        >>> SessionEntry.from_dict({"sessionId": "../etc/passwd", "updatedAt": 1})
        Traceback (most recent call last):
        ...
        sessionstore.errors.InvalidEntryError: sessionId: ...is not a safe session id...
        """
        if not isinstance(data, Mapping):
            raise InvalidEntryError(f"an entry must be a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidEntryError(_describe(exc)) from exc

    @classmethod
    def from_json(cls, data: bytes | str) -> SessionEntry:
        """Parse and validate one entry from JSON text.

        >>> SessionEntry.from_json('{"sessionId": "s1", "updatedAt": 1}').session_id
        's1'
        """
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InvalidEntryError(f"entry is not valid JSON: {exc}") from exc
        return cls.from_dict(parsed)

    @classmethod
    def _from_stored(cls, data: Mapping[str, Any]) -> SessionEntry:
        """Rebuild an entry that this library validated when it was written."""
        return cls.model_validate(data, context={_TRUSTED: True})

    def to_dict(self) -> dict[str, Any]:
        """The entry as OpenClaw's JSON object: camelCase keys, unset fields omitted.

        >>> SessionEntry(session_id="s1", updated_at=1, label=None).to_dict()
        {'sessionId': 's1', 'updatedAt': 1, 'label': None}
        """
        return self.model_dump(exclude_unset=True)

    def to_json(self) -> bytes:
        """The entry as compact JSON bytes (UTF-8).

        >>> SessionEntry(session_id="s1", updated_at=1).to_json()
        b'{"sessionId":"s1","updatedAt":1}'
        """
        return orjson.dumps(self.to_dict())

    def with_fields(self, **changes: Any) -> SessionEntry:
        """A validated copy with some fields replaced (snake_case or camelCase names).

        >>> SessionEntry(session_id="s1", updated_at=1).with_fields(label="Inbox").label
        'Inbox'
        """
        changed = json_names(changes)
        unchanged = {name for name in self.__pydantic_extra__ or {} if name not in changed}
        try:
            return SessionEntry.model_validate(
                {**self.to_dict(), **changed}, context={_CHECKED_EXTRAS: unchanged}
            )
        except ValidationError as exc:
            raise InvalidEntryError(_describe(exc)) from exc


_JSON_NAMES = {name: f.alias for name, f in SessionEntry.model_fields.items() if f.alias}


def json_names(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with the Python names of known fields turned into their JSON names.

    >>> json_names({"display_name": "D", "thinkingLevel": "low"})
    {'displayName': 'D', 'thinkingLevel': 'low'}
    """
    return {_JSON_NAMES.get(name, name): value for name, value in fields.items()}


def as_entry(value: SessionEntry | Mapping[str, Any]) -> SessionEntry:
    """An entry from an entry or from its JSON object (camelCase keys).

    >>> as_entry({"sessionId": "s1", "updatedAt": 1}).session_id
    's1'
    """
    return value if isinstance(value, SessionEntry) else SessionEntry.from_dict(value)


def encode_entry(entry: SessionEntry, max_bytes: int) -> tuple[dict[str, Any], bytes]:
    """The entry's JSON object and its compact JSON, refused above ``max_bytes``.

    >>> encode_entry(SessionEntry(session_id="s1", updated_at=1), 100)[1]
    b'{"sessionId":"s1","updatedAt":1}'
    """
    data = entry.to_dict()
    try:
        encoded = orjson.dumps(data)
    except orjson.JSONEncodeError as exc:  # only reachable by bypassing validation
        raise InvalidEntryError(f"entry is not JSON-serialisable: {exc}") from exc
    check_size(len(encoded), max_bytes)
    return data, encoded


def check_size(size: int, max_bytes: int) -> None:
    """Refuse an entry of ``size`` bytes of JSON over ``max_bytes``."""
    if size > max_bytes:
        raise InvalidEntryError(
            f"entry is {size:,} bytes of JSON, over the limit of {max_bytes:,} (max_entry_bytes)"
        )


def _describe(exc: ValidationError) -> str:
    """One line per problem, each naming the JSON field."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "entry"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class SessionSummary(BaseModel):
    """One row of a listing, built from the index columns alone (no blobs parsed).

    ``last_thread_id`` is the index's text form of the thread id; the entry itself
    keeps its JSON type.

    >>> from sessionstore import open_store
    >>> with open_store("sqlite://", auto_upgrade=True) as store:
    ...     entry = {"sessionId": "s1", "updatedAt": 1, "lastThreadId": 42}
    ...     _ = store.put("agent:main:main", entry)
    ...     summary = store.list().items[0]
    >>> summary.key, summary.last_thread_id
    ('agent:main:main', '42')
    """

    model_config = ConfigDict(frozen=True)

    key: str
    session_id: str
    updated_at: int
    created_at: int | None = None
    channel: str | None = None
    last_channel: str | None = None
    last_to: str | None = None
    last_account_id: str | None = None
    last_thread_id: str | None = None
    label: str | None = None
    display_name: str | None = None
    status: str | None = None
    chat_type: str | None = None
    model: str | None = None
    model_provider: str | None = None
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    message_count: int | None = None
    archived: bool = False
    spawned_by: str | None = None


class SessionPage(BaseModel):
    """One page of :meth:`SessionStore.list`; pass ``next_cursor`` back for the next.

    ``next_cursor`` is ``None`` on the last page.

    >>> from sessionstore import open_store
    >>> with open_store("sqlite://", auto_upgrade=True) as store:
    ...     for n in range(3):
    ...         _ = store.put(f"agent:main:s{n}", {"sessionId": f"s{n}", "updatedAt": n})
    ...     first = store.list(limit=2)
    ...     rest = store.list(limit=2, cursor=first.next_cursor)
    >>> [item.key for item in first.items + rest.items], rest.next_cursor
    (['agent:main:s2', 'agent:main:s1', 'agent:main:s0'], None)
    """

    model_config = ConfigDict(frozen=True)

    items: list[SessionSummary]
    next_cursor: str | None = None
