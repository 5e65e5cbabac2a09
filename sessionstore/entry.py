"""Public data models: :class:`SessionEntry`, :class:`SessionSummary`, :class:`SessionPage`.

``SessionEntry`` mirrors OpenClaw's entry. The fields of the hot index are typed with
snake_case names; the JSON form keeps OpenClaw's camelCase. Every other field is kept
untouched in ``model_extra``, so data written by newer OpenClaw versions round-trips.

>>> e = SessionEntry(session_id="abc", updated_at=1774962000000, thinkingLevel="low")
>>> e.to_dict()
{'sessionId': 'abc', 'updatedAt': 1774962000000, 'thinkingLevel': 'low'}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Container, Mapping
from typing import TYPE_CHECKING, Any, Self

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from sessionstore.errors import InvalidArgumentError, InvalidEntryError

__all__ = [
    "MAX_DEPTH",
    "MAX_ENTRY_BYTES",
    "MAX_KEY_BYTES",
    "MAX_TIMESTAMP_MS",
    "EntryValidationError",
    "SessionEntry",
    "SessionPage",
    "SessionSummary",
    "as_entry",
    "check_size",
    "count_of",
    "dumps_json",
    "encode_entry",
    "json_names",
    "json_number",
    "loads_json",
    "timestamp_of",
    "validate_agent_id",
    "validate_key",
    "validate_session_id",
]

#: Longest session key accepted, in bytes of UTF-8 (so it stays indexable on MySQL).
MAX_KEY_BYTES = 1024
#: Default largest entry a store accepts, in bytes of compact JSON (``max_entry_bytes``).
MAX_ENTRY_BYTES = 8 * 1024 * 1024
#: Latest timestamp indexed: 9999-12-31T23:59:59.999Z in epoch milliseconds.
MAX_TIMESTAMP_MS = 253_402_300_799_999
#: Deepest nesting of arrays and objects accepted in an entry (the entry itself is
#: level 1); deeper values are refused, as orjson cannot write them.
MAX_DEPTH = 128
_INT64 = (-(2**63), 2**63 - 1)

# OpenClaw's SAFE_SESSION_ID_RE: 1-128 chars, first alphanumeric, rest [A-Za-z0-9._-].
_SAFE_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# ...and not shaped like a compaction checkpoint file: <parentId>.checkpoint.<uuid>
_CHECKPOINT_SHAPE = re.compile(
    r".*\.checkpoint\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I
)

_CHECKED_EXTRAS = "sessionstore.checked_extras"
# OpenClaw's normalised agent ids: lowercase [a-z0-9_-], at most 64 characters.
_AGENT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def dumps_json(value: Any, *, sort_keys: bool = False, indent: bool = False) -> bytes:
    r"""JSON in UTF-8, compact or with a 2-space ``indent``, with lone UTF-16 surrogates
    written as JSON escapes.

    JavaScript strings cut inside an emoji hold such surrogates; they have no UTF-8
    form, so orjson refuses them, and ``JSON.stringify`` writes them as ``\udXXX``.

    >>> dumps_json({"label": "cut \ud83d"})
    b'{"label":"cut \\ud83d"}'
    """
    option = (orjson.OPT_SORT_KEYS if sort_keys else 0) | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(value, option=option or None)
    except orjson.JSONEncodeError:
        text = json.dumps(
            value,
            ensure_ascii=False,
            indent=2 if indent else None,
            separators=(",", ": ") if indent else (",", ":"),
            sort_keys=sort_keys,
        )
        return text.encode("utf-8", "backslashreplace")


def loads_json(data: bytes | str) -> Any:
    r"""Parse JSON, also with escapes of lone UTF-16 surrogates (which orjson refuses).

    >>> loads_json(b'"cut \\ud83d"') == "cut \ud83d"
    True
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _is_unicode(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (no lone UTF-16 surrogate)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def json_number(value: Any) -> float | int | None:
    """``value`` if it is a finite JSON number, else ``None`` (booleans are not
    numbers in JSON).

    >>> json_number(1.5), json_number(True), json_number(float("nan"))
    (1.5, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None


def timestamp_of(value: Any) -> int | None:
    """The index form of a timestamp field: a number floored and clamped into
    0..MAX_TIMESTAMP_MS, ``None`` for anything else.

    >>> timestamp_of(1796126700520.5), timestamp_of(-5), timestamp_of("soon")
    (1796126700520, 0, None)
    """
    number = json_number(value)
    return None if number is None else min(max(math.floor(number), 0), MAX_TIMESTAMP_MS)


def count_of(value: Any) -> int | None:
    """The index form of a counter field: a number floored (negative values stay
    negative) and clamped into 64 bits, ``None`` for anything else.

    >>> count_of(-5), count_of(2.7), count_of(None)
    (-5, 2, None)
    """
    number = json_number(value)
    return None if number is None else min(max(math.floor(number), _INT64[0]), _INT64[1])


# The integers each index form keeps as they are
_INDEX_RANGES = {timestamp_of: (0, MAX_TIMESTAMP_MS), count_of: _INT64}

# Numeric fields whose JSON value may be any number: JSON name -> its index form.
# (updatedAt is missing -> 0, see SessionEntry.)
_NUMERIC_FIELDS = {
    "updatedAt": timestamp_of,
    "sessionStartedAt": timestamp_of,
    "archivedAt": timestamp_of,
    "inputTokens": count_of,
    "outputTokens": count_of,
    "totalTokens": count_of,
    "contextTokens": count_of,
    "messageCount": count_of,
}


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


def validate_session_id(session_id: object) -> str:
    """Check a session id given on its own (OpenClaw's safe ids, as an entry's) and
    return it; raise :class:`InvalidArgumentError` if it is not one.

    >>> validate_session_id("s1")
    's1'
    """
    if (
        not isinstance(session_id, str)
        or not _SAFE_SESSION_ID.fullmatch(session_id)
        or _CHECKPOINT_SHAPE.fullmatch(session_id)
    ):
        raise InvalidArgumentError(
            f"{session_id!r} is not a safe session id: 1-128 characters, the first a letter "
            "or digit, the rest letters, digits, '.', '_' or '-'"
        )
    return session_id


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


def _check_json_value(value: Any, path: str, depth: int = 2) -> None:
    """Reject what JSON (or one of the databases) cannot hold, naming where it is.

    ``depth`` is the nesting level of ``value`` (a field of the entry is at level 2).
    """
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
    elif isinstance(value, dict | list) and depth > MAX_DEPTH:
        field = path.partition("[")[0].partition(".")[0]  # the path itself is that deep
        raise ValueError(f"{field}: nested deeper than {MAX_DEPTH} levels")
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{path}: object keys must be strings, got {k!r}")
            if "\x00" in k:
                raise ValueError(f"{path}: object keys must not contain NUL characters")
            _check_json_value(v, f"{path}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json_value(v, f"{path}[{i}]", depth + 1)
    else:
        raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")


def _plain_json(value: Any, depth: int = 2) -> bool:
    """Whether ``value`` is certainly one that :func:`_check_json_value` accepts: made
    of the plain JSON types only, walked without building paths. ``False`` means "not
    sure": the caller then runs the full check, which names the problem."""
    kind = type(value)
    if kind is str:
        return "\x00" not in value
    if kind is int:
        return bool(-(2**63) <= value < 2**64)
    if kind is float:
        return math.isfinite(value)
    if kind is dict or kind is list:
        if depth > MAX_DEPTH:
            return False
        children = value.values() if kind is dict else value
        if kind is dict and not all(type(k) is str and "\x00" not in k for k in value):
            return False
        for child in children:
            child_kind = type(child)
            if child_kind is str:
                if "\x00" in child:
                    return False
            elif child_kind is bool or child is None:
                continue
            elif not _plain_json(child, depth + 1):
                return False
        return True
    return value is None or kind is bool


class EntryValidationError(InvalidEntryError, ValidationError):
    """An entry failed validation: both an :class:`InvalidEntryError` and pydantic's
    ``ValidationError`` (so also a ``ValueError``), with one line naming each field.

    >>> try:
    ...     SessionEntry(session_id="a/b")
    ... except InvalidEntryError as exc:
    ...     print(isinstance(exc, ValidationError), exc)
    True session_id: Value error, 'a/b' is not a safe session id: ...
    """

    def __str__(self) -> str:
        return _describe(self)

    @classmethod
    def of(cls, exc: ValidationError) -> EntryValidationError:
        """The same errors, raised as this class."""
        return cls.from_exception_data(exc.title, exc.errors())  # type: ignore[arg-type]


class SessionEntry(BaseModel):
    """One session's metadata, as OpenClaw stores it in ``sessions.json``.

    Required: ``session_id`` (``sessionId``), a safe file name. Every other field is
    optional. Invalid input raises :class:`EntryValidationError`, from the constructor
    and from :meth:`from_dict` alike: catch it as :class:`InvalidEntryError`, pydantic's
    ``ValidationError`` or ``ValueError``.

    Unknown fields are kept as given; values keep their JSON types (``lastThreadId``
    42 stays a number, ``"42"`` a string). The numeric fields accept any JSON number,
    as OpenClaw does: :meth:`to_dict` returns it as written, and the typed attribute
    holds its index form (:func:`timestamp_of`, :func:`count_of`): ``updated_at`` is
    an ``int``, floored and clamped into 0..MAX_TIMESTAMP_MS, and 0 when the entry has
    no ``updatedAt``; a counter is floored, a negative one stays negative.

    >>> e = SessionEntry.from_dict({"sessionId": "s1", "updatedAt": 5, "lastThreadId": 42})
    >>> e.last_thread_id, e.to_dict()["lastThreadId"]
    (42, 42)
    >>> e = SessionEntry.from_dict({"sessionId": "s2", "updatedAt": 7.5, "inputTokens": -5})
    >>> e.updated_at, e.input_tokens, e.to_dict()
    (7, -5, {'sessionId': 's2', 'updatedAt': 7.5, 'inputTokens': -5})
    >>> SessionEntry.from_dict({"sessionId": "s3"}).updated_at
    0
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
    updated_at: int = 0
    session_started_at: int | None = None
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
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    context_tokens: int | None = None
    message_count: int | None = None
    archived_at: int | None = None
    spawned_by: str | None = None

    # JSON name -> the number as written, for numeric fields whose typed value differs;
    # None when there are none (no dict of its own to track: a full read builds many)
    _as_written: dict[str, Any] | None = PrivateAttr(default=None)

    if not TYPE_CHECKING:  # the pydantic plugin keeps the typed signature for mypy

        def __init__(self, /, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as exc:
                raise EntryValidationError.of(exc) from None

        # Only wraps the error: pydantic need not call it from model_validate, which
        # would validate everything twice and drop the validation context.
        __init__.__pydantic_base_init__ = True

    def __eq__(self, other: object) -> bool:
        # Equal when the JSON is: an explicit null differs from an absent field.
        if not isinstance(other, SessionEntry):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    @model_validator(mode="wrap")
    @classmethod
    def _index_numbers(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # Any JSON number is accepted in a numeric field: the typed field gets its index
        # form, and the number as written is kept for to_dict().
        as_written: dict[str, Any] = {}
        if isinstance(data, Mapping):
            for name in data:
                if isinstance(name, str) and not name.isascii() and not _is_unicode(name):
                    raise ValueError(f"field name {name!r} holds a lone UTF-16 surrogate")
            data, as_written = _index_forms(data)
        entry = handler(data)
        if as_written:
            entry._as_written = as_written
        return entry

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
        # Unknown fields copied from an entry validated before need no second walk.
        checked = info.context.get(_CHECKED_EXTRAS, ()) if info.context else ()
        for name, value in (self.__pydantic_extra__ or {}).items():
            if name not in checked and not _plain_json(value):
                _check_json_value(value, name)  # says what is wrong, if anything
        for name, value in self.__dict__.items():
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(
                    f"{_JSON_NAMES.get(name, name)}: strings must not contain NUL characters"
                )
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionEntry:
        """Validate a JSON object (camelCase keys) into an entry.

        Raises :class:`EntryValidationError` (an
        :class:`~sessionstore.errors.InvalidEntryError`) naming the bad field.

        >>> SessionEntry.from_dict({"sessionId": "../etc/passwd", "updatedAt": 1})
        Traceback (most recent call last):
        ...
        sessionstore.entry.EntryValidationError: sessionId: ...is not a safe session id...
        """
        if not isinstance(data, Mapping):
            raise InvalidEntryError(f"an entry must be a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise EntryValidationError.of(exc) from None

    @classmethod
    def from_json(cls, data: bytes | str) -> SessionEntry:
        """Parse and validate one entry from JSON text.

        >>> SessionEntry.from_json('{"sessionId": "s1", "updatedAt": 1}').session_id
        's1'
        """
        try:
            parsed = loads_json(data)
        except (ValueError, RecursionError) as exc:
            raise InvalidEntryError(f"entry is not valid JSON: {exc}") from exc
        return cls.from_dict(parsed)

    @classmethod
    def _from_stored(cls, data: Mapping[str, Any]) -> SessionEntry:
        """Rebuild an entry from the JSON object of one this library validated when it
        wrote it (``to_dict()``), without validating it again: the same fields, values
        and ``to_dict()`` as :meth:`from_dict` gives, at a fraction of the cost."""
        indexed, as_written = _index_forms(data)
        fields = dict(_DEFAULTS)  # in declaration order, as validation sets them
        given: set[str] = set()
        extra: dict[str, Any] = {}
        for name, value in indexed.items():
            field = _FIELD_OF_ALIAS.get(name)
            if field is not None:
                fields[field] = value
                given.add(field)
            elif name in _JSON_NAMES and _JSON_NAMES[name] not in data:
                return cls.from_dict(data)  # a field by its Python name: not our to_dict()
            else:
                extra[name] = value
        entry = cls.__new__(cls)
        set_ = object.__setattr__  # the model is frozen
        set_(entry, "__dict__", fields)
        given.update(extra)
        set_(entry, "__pydantic_fields_set__", given)
        set_(entry, "__pydantic_extra__", extra)
        set_(entry, "__pydantic_private__", {"_as_written": as_written or None})
        return entry

    def to_dict(self) -> dict[str, Any]:
        """The entry as OpenClaw's JSON object: camelCase keys, unset fields omitted.

        >>> SessionEntry(session_id="s1", updated_at=1, label=None).to_dict()
        {'sessionId': 's1', 'updatedAt': 1, 'label': None}
        """
        data = self.model_dump(exclude_unset=True)
        # read from the private attributes' dict: the attribute goes through __getattr__
        written = (self.__pydantic_private__ or {}).get("_as_written")
        if written:
            data.update(written)
        return data

    def to_json(self) -> bytes:
        """The entry as compact JSON bytes (UTF-8).

        >>> SessionEntry(session_id="s1", updated_at=1).to_json()
        b'{"sessionId":"s1","updatedAt":1}'
        """
        return dumps_json(self.to_dict())

    def with_fields(self, **changes: Any) -> SessionEntry:
        """A validated copy with some fields replaced (snake_case or camelCase names).

        >>> SessionEntry(session_id="s1", updated_at=1).with_fields(label="Inbox").label
        'Inbox'
        """
        changed = json_names(changes)
        return self._revised({**self.to_dict(), **changed}, changed)

    def _revised(self, data: Mapping[str, Any], changed: Container[str]) -> SessionEntry:
        """Validate ``data``, this entry's JSON with the fields named in ``changed``
        replaced: the unknown fields it keeps unchanged were checked already."""
        unchanged = {name for name in self.__pydantic_extra__ or {} if name not in changed}
        try:
            return SessionEntry.model_validate(data, context={_CHECKED_EXTRAS: unchanged})
        except ValidationError as exc:
            raise EntryValidationError.of(exc) from None


_JSON_NAMES = {name: f.alias for name, f in SessionEntry.model_fields.items() if f.alias}
_FIELD_OF_ALIAS = {alias: name for name, alias in _JSON_NAMES.items()}
# Every field's default (None for the required session_id, always given), in order
_DEFAULTS = {
    name: None if f.is_required() else f.default for name, f in SessionEntry.model_fields.items()
}
# Python name -> (JSON name, index form, the integers it keeps as they are) of the
# numeric fields
_NUMERIC_NAMES = {
    name: (alias, _NUMERIC_FIELDS[alias], *_INDEX_RANGES[_NUMERIC_FIELDS[alias]])
    for name, alias in _JSON_NAMES.items()
    if alias in _NUMERIC_FIELDS
}


def _index_forms(data: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """``data`` with each numeric field's value in its index form, and the numbers as
    written (by JSON name) where they differ from it. A field given by its Python name
    counts only without its JSON name, as in validation."""
    as_written: dict[str, Any] = {}
    for name, (alias, index_form, low, high) in _NUMERIC_NAMES.items():
        given = alias if alias in data else name
        value = data.get(given)
        if value is None or (type(value) is int and low <= value <= high):
            continue  # the common case, already in its index form
        typed = index_form(value)
        if typed is not None and (typed != value or type(value) is not int):
            if not as_written:
                data = dict(data)
            data[given] = typed  # type: ignore[index]
            as_written[alias] = value
    return data, as_written


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
        encoded = dumps_json(data)
    except (TypeError, ValueError, RecursionError) as exc:  # only by bypassing validation
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
