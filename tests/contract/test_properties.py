"""The contract, property tests on every backend: arbitrary JSON in unknown fields
and arbitrary valid keys round-trip, keeping each value's JSON type."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import SessionEntry, SessionStore
from sessionstore.entry import MAX_KEY_BYTES

TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30,
)
TYPED_NAMES = {
    name
    for field_name, field in SessionEntry.model_fields.items()
    for name in (field_name, field.alias)
}
UNKNOWN_FIELDS = st.dictionaries(
    TEXT.filter(lambda name: name not in TYPED_NAMES), JSON_VALUES, min_size=1, max_size=6
)
KEYS = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1
).filter(lambda key: key.strip() != "" and len(key.encode()) <= MAX_KEY_BYTES)
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def json_type(value: Any) -> str:
    """JSON's own type of a value: numbers are one type, as in JSON (PostgreSQL's JSONB
    may give 1e16 back as 10000000000000000)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    kinds: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return kinds[type(value)]


def assert_same_json(got: Any, want: Any, path: str = "$") -> None:
    assert json_type(got) == json_type(want), f"{path}: {got!r} is not {want!r}"
    if isinstance(want, dict):
        assert set(got) == set(want), path
        for key in want:
            assert_same_json(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for n, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same_json(g, w, f"{path}[{n}]")
    elif json_type(want) == "number":
        # the same decimal number as written in JSON (shortest repr of a float)
        assert Decimal(repr(got)) == Decimal(repr(want)), f"{path}: {got!r} != {want!r}"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


@EXAMPLES
@given(fields=UNKNOWN_FIELDS)
def test_unknown_fields_round_trip(store: SessionStore, fields: dict[str, Any]) -> None:
    original = SessionEntry.from_dict({"sessionId": "s1", "updatedAt": 1, **fields})
    store.put("agent:main:main", original)
    back = store.get("agent:main:main")
    assert back is not None
    assert_same_json(back.to_dict(), original.to_dict())


@EXAMPLES
@given(key=KEYS)
def test_any_valid_key_round_trips(store: SessionStore, key: str) -> None:
    store.put(key, SessionEntry(session_id="s1", updated_at=1))
    assert store.get(key) == SessionEntry(session_id="s1", updated_at=1)
    assert key in [item.key for item in store.list(limit=1000).items]
    assert store.delete(key)


NUMBERS = st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.floats(
    allow_nan=False, allow_infinity=False
)
NUMERIC_FIELDS = ("updatedAt", "sessionStartedAt", "archivedAt", "inputTokens", "totalTokens")
TYPED_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(NUMERIC_FIELDS, NUMBERS),
        "label": st.none() | TEXT,
        "lastThreadId": st.none() | TEXT | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    },
)


@EXAMPLES
@given(typed=TYPED_FIELDS, fields=UNKNOWN_FIELDS)
def test_entries_read_back_are_what_validation_makes(
    store: SessionStore, typed: dict[str, Any], fields: dict[str, Any]
) -> None:
    original = SessionEntry.from_dict({"sessionId": "s1", **typed, **fields})
    store.put("agent:main:main", original)
    back = store.get("agent:main:main")
    assert back is not None
    validated = SessionEntry.from_dict(back.to_dict())
    for name in SessionEntry.model_fields:
        got, want = getattr(back, name), getattr(validated, name)
        assert (type(got), got) == (type(want), want), name
    assert back.model_extra == validated.model_extra
    assert back.model_fields_set == validated.model_fields_set
    assert back.model_dump() == validated.model_dump()
    assert_same_json(back.to_dict(), original.to_dict())
