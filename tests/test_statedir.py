"""Reading OpenClaw state directories: discovery, parsing, and the normalisation on import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sessionstore import CorruptStoreError
from sessionstore.openclaw.statedir import (
    agent_of_key,
    discover_agents,
    legacy_store_path,
    load_agent,
    normalise_agent_id,
    normalise_entries,
    normalise_key,
    read_store_file,
    store_path,
)


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def entry(session_id: str = "s1", updated_at: int = 1, **fields: Any) -> dict[str, Any]:
    return {"sessionId": session_id, "updatedAt": updated_at, **fields}


def test_keys_are_trimmed_and_lowercased() -> None:
    result = normalise_entries([("  Agent:Main:WebChat:DM:MiXeD-User ", entry())])
    assert list(result.entries) == ["agent:main:webchat:dm:mixed-user"]
    assert any("key normalised" in change for change in result.changes)


@pytest.mark.parametrize(
    ("key", "canonical"),
    [
        # Matrix rooms and their threads keep their case, the rest is lowercased
        (
            " Agent:Main:Matrix:Channel:!AbCdEf:matrix.org:THREAD:$EvT1 ",
            "agent:main:matrix:channel:!AbCdEf:matrix.org:thread:$EvT1",
        ),
        ("Matrix:Group:!Unscoped:Srv", "matrix:group:!Unscoped:Srv"),
        ("agent:main:matrix:direct:@Alice:srv", "agent:main:matrix:direct:@alice:srv"),
        # a Signal group keeps one segment, trimmed
        ("Agent:Work:Signal:Group: AbC+/== :X", "agent:work:signal:group:AbC+/==:x"),
        # other opaque ids are folded, as OpenClaw folds them
        ("agent:main:slack:channel:C0ABCDEF", "agent:main:slack:channel:c0abcdef"),
        ("Agent:Main:Discord:Direct:UserX", "agent:main:discord:direct:userx"),
        # JavaScript's whitespace, not Python's
        ("\ufeffagent:main:main\u3000", "agent:main:main"),
        ("\x1cagent:main:main\x85", "\x1cagent:main:main\x85"),
        ("agent:main:webchat:dm:İSTANBUL", "agent:main:webchat:dm:i\u0307stanbul"),
    ],
)
def test_keys_normalise_as_openclaw_normalises_them(key: str, canonical: str) -> None:
    """The same table, and more, is checked against OpenClaw itself in the interop
    suite; this one runs without it."""
    assert normalise_key(key) == canonical


ROOM = "agent:main:matrix:channel:!AbCdEf:matrix.org"


def test_a_lowercased_matrix_key_is_another_key_without_proof() -> None:
    """Until 2026.7 OpenClaw lowercased Matrix room ids. A lowercased key whose entry
    does not deliver to the room in its case is another room to OpenClaw now."""
    elsewhere = {"lastTo": "room:!Other:matrix.org"}
    result = normalise_entries(
        [(ROOM, entry("new", 2)), (ROOM.lower(), entry("old", 1, **elsewhere))]
    )
    assert list(result.entries) == [ROOM, ROOM.lower()]


def test_a_lowercased_key_goes_back_to_the_case_its_entry_delivers_to() -> None:
    to_room = {"deliveryContext": {"channel": "matrix", "to": "room:!AbCdEf:matrix.org"}}
    result = normalise_entries(
        [
            (ROOM.lower(), entry("room", 9, **to_room)),
            (f"{ROOM.lower()}:thread:$evt1", entry("thread", 9, lastThreadId="$EvT1", **to_room)),
            ("agent:work:signal:group:abc+/==", entry("group", 9, lastTo="group:AbC+/==")),
            # a room lowercased, its thread id not
            (f"{ROOM.lower()}:thread:$EvT2", entry("t2", 9, lastThreadId="$EvT2", **to_room)),
        ]
    )
    assert list(result.entries) == [
        ROOM,
        f"{ROOM}:thread:$EvT1",
        "agent:work:signal:group:AbC+/==",
        f"{ROOM}:thread:$EvT2",
    ]


def test_the_rooms_own_key_wins_over_a_fresher_lowercased_alias() -> None:
    """As OpenClaw's lookup: the exact Matrix key first, whatever the ages (Signal
    groups' aliases compete by age, as all others)."""
    alias = entry("alias", 9, lastTo="room:!AbCdEf:matrix.org")
    result = normalise_entries([(ROOM.lower(), alias), (ROOM, entry("own", 1))])
    assert result.entries[ROOM]["sessionId"] == "own"
    assert f"{ROOM.lower()!r}: collapsed into {ROOM!r} (a lowercased alias)" in result.changes
    group = "agent:work:signal:group:AbC"
    fresher = entry("alias", 9, lastTo="group:AbC")
    result = normalise_entries([(group.lower(), fresher), (group, entry("own", 1))])
    assert result.entries[group]["sessionId"] == "alias"


@pytest.mark.parametrize("fresh_first", [True, False])
def test_aliases_collapse_and_the_freshest_wins(fresh_first: bool) -> None:
    items = [
        ("Agent:Main:Main", entry("old", 100, label="old")),
        ("agent:main:MAIN", entry("new", 200, label="new")),
    ]
    result = normalise_entries(items[::-1] if fresh_first else items)
    assert result.entries == {"agent:main:main": entry("new", 200, label="new")}
    assert result.read == 2
    assert any("collapsed into 'agent:main:main'" in change for change in result.changes)


def test_on_a_tie_the_canonical_key_wins() -> None:
    result = normalise_entries(
        [("Agent:Main:Main", entry("mixed", 5)), ("agent:main:main", entry("exact", 5))]
    )
    assert result.entries["agent:main:main"]["sessionId"] == "exact"


def test_legacy_fields_are_renamed_as_openclaw_does() -> None:
    result = normalise_entries(
        [
            ("a", entry(provider="telegram", lastProvider="discord", room="#ops")),
            # a current name already set: the legacy one stays, except room
            ("b", entry(provider="x", channel="slack", room="#r", groupChannel="#g")),
            ("c", entry(room=5)),
        ]
    )
    assert result.entries["a"] == entry(
        channel="telegram", lastChannel="discord", groupChannel="#ops"
    )
    assert result.entries["b"] == entry(provider="x", channel="slack", groupChannel="#g")
    assert result.entries["c"] == entry()


def test_resolved_skills_are_stripped_and_everything_else_is_kept() -> None:
    unknown: dict[str, Any] = {"nested": {"a": [1, 2.5, None, True]}, "big": 2**62, "neg": -1.5e-7}
    raw = entry(
        lastThreadId=42,
        deliveryContext={"threadId": "42"},
        skillsSnapshot={"prompt": "p", "resolvedSkills": [{"body": "x" * 1000}], "version": 3},
        **unknown,
    )
    result = normalise_entries([("k", raw)])
    stored = result.entries["k"]
    assert stored["skillsSnapshot"] == {"prompt": "p", "version": 3}
    assert stored["lastThreadId"] == 42 and stored["deliveryContext"]["threadId"] == "42"
    for name, value in unknown.items():
        assert stored[name] == value and type(stored[name]) is type(value)
    assert raw["skillsSnapshot"]["resolvedSkills"]  # the input is not modified


def test_invalid_entries_are_reported_by_key_and_skipped() -> None:
    result = normalise_entries(
        [
            ("good", entry()),
            ("unsafe", entry("../etc/passwd")),
            ("no-time", {"sessionId": "s2"}),
            ("array", [1, 2]),
            ("", entry()),
        ]
    )
    # OpenClaw keeps an entry without updatedAt, so it is kept too (indexed at 0).
    assert list(result.entries) == ["good", "no-time"]
    assert [key for key, _ in result.rejected] == ["unsafe", "array", ""]
    assert "sessionId" in dict(result.rejected)["unsafe"]


def test_verbatim_keeps_keys_and_fields() -> None:
    raw = entry(provider="telegram")
    result = normalise_entries([("Agent:Main:Main", raw)], verbatim=True)
    assert result.entries == {"Agent:Main:Main": raw} and not result.changes


def test_agent_ids_and_keys() -> None:
    assert normalise_agent_id("  Ops Team ") == "ops-team"
    assert normalise_agent_id("***") == "main"
    assert agent_of_key("agent:ops:telegram:direct:1") == "ops"
    assert agent_of_key("cron:daily") == "main"
    assert agent_of_key("hook:abc") == "main"
    assert agent_of_key("agent:ops::x") == "main"  # no rest after the agent: no agent
    # cut to 64 characters after the dashes are stripped, as normalizeAgentId does
    assert normalise_agent_id("a" * 63 + "!b") == "a" * 63 + "-"


def test_json5_fallback_for_hand_edited_files(tmp_path: Path) -> None:
    path = write(
        tmp_path / "sessions.json",
        '{\n  // edited by hand\n  "k": {sessionId: "s1", updatedAt: 1,},\n}\n',
    )
    assert read_store_file(path) == {"k": entry()}


@pytest.mark.parametrize(
    "text",
    [
        "",
        '{"k": {"sessionId": "s1"',
        "[]",
        '{"k": 1, "k": 2}',
        "\ud800".encode("utf-8", "surrogatepass"),
    ],
    ids=["empty", "truncated", "array", "duplicate-keys", "invalid-utf8"],
)
def test_unreadable_files_are_reported_and_left_alone(tmp_path: Path, text: str | bytes) -> None:
    path = tmp_path / "sessions.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = path.read_bytes()
    with pytest.raises(CorruptStoreError, match="left untouched"):
        read_store_file(path)
    assert path.read_bytes() == before


def test_a_bom_is_accepted_and_a_missing_file_is_none(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"k": entry()}).encode())
    assert read_store_file(path) == {"k": entry()}
    assert read_store_file(tmp_path / "missing.json") is None


def test_discovery_finds_every_agent_and_splits_the_legacy_store(tmp_path: Path) -> None:
    write(store_path(tmp_path, "main"), {"agent:main:main": entry("m", 10)})
    write(store_path(tmp_path, "work"), {"agent:work:main": entry("w", 10)})
    (tmp_path / "agents" / "empty" / "sessions").mkdir(parents=True)
    (tmp_path / "agents" / "Not An Agent" / "sessions").mkdir(parents=True)
    write(
        legacy_store_path(tmp_path),
        {
            "agent:main:main": entry("legacy-old", 5),
            "global": entry("g", 7),
            "agent:ops:main": entry("o", 7),
        },
    )
    sources = {source.agent_id: source for source in discover_agents(tmp_path)}
    assert sorted(sources) == ["empty", "main", "ops", "work"]
    assert sources["work"].legacy_path is None
    main = load_agent(sources["main"])
    assert main.entries == {"agent:main:main": entry("m", 10), "global": entry("g", 7)}
    assert load_agent(sources["ops"]).entries == {"agent:ops:main": entry("o", 7)}
    assert not sources["empty"].exists()


def test_json5_repeated_keys_keep_the_last_value_but_strict_json_ones_are_refused(
    tmp_path: Path,
) -> None:
    hand_edited = write(
        tmp_path / "a.json",
        '{"k": {sessionId: "old", updatedAt: 1,}, "k": {sessionId: "new", updatedAt: 2}}',
    )
    assert read_store_file(hand_edited) == {"k": entry("new", 2)}
    strict = write(tmp_path / "b.json", '{"k": {"sessionId": "old", "updatedAt": 1}, "k": {}}')
    with pytest.raises(CorruptStoreError, match="duplicate key 'k'"):
        read_store_file(strict)


def test_a_nan_in_one_entry_rejects_that_entry_only(tmp_path: Path) -> None:
    write(
        store_path(tmp_path, "main"),
        '{"a": {"sessionId": "s1", "updatedAt": 1, "x": NaN},'
        ' "b": {"sessionId": "s2", "updatedAt": 2}}',
    )
    [source] = discover_agents(tmp_path)
    loaded = load_agent(source)
    assert list(loaded.entries) == ["b"]
    assert [key for key, _ in loaded.rejected] == ["a"] and "NaN" in loaded.rejected[0][1]
