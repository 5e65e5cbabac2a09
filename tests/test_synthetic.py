"""The synthetic OpenClaw state directories are deterministic, laid out and written like
OpenClaw's, and hold exactly the awkward cases their result says they do."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionstore.testing import (
    DEFAULT_NOW_MS,
    GeneratedStateDir,
    generate_state_dir,
)

DAY_MS = 86_400_000
AGENTS = ("main", "work")


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_bytes())
    assert isinstance(data, dict)
    return data


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> GeneratedStateDir:
    root = tmp_path_factory.mktemp("messy") / "state"
    return generate_state_dir(root, agents=AGENTS, sessions_per_agent=60, messy=True)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> GeneratedStateDir:
    root = tmp_path_factory.mktemp("clean") / "state"
    return generate_state_dir(root, agents=AGENTS, sessions_per_agent=150)


def all_states(clean: GeneratedStateDir, messy: GeneratedStateDir) -> Iterator[GeneratedStateDir]:
    yield clean
    yield messy


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    root = tmp_path / "state"
    generate_state_dir(root, agents=AGENTS, sessions_per_agent=20, messy=True)
    first = tree(root)
    shutil.rmtree(root)
    generate_state_dir(root, agents=AGENTS, sessions_per_agent=20, messy=True)
    assert tree(root) == first
    shutil.rmtree(root)
    generate_state_dir(root, agents=AGENTS, sessions_per_agent=20, messy=True, seed=7)
    other = tree(root)
    store = "agents/main/sessions/sessions.json"
    assert other[store] != first[store]


def test_messy_and_extra_agents_leave_regular_sessions_alone(tmp_path: Path) -> None:
    root = tmp_path / "state"
    generate_state_dir(root, agents=("main",), sessions_per_agent=30)
    plain = load(root / "agents/main/sessions/sessions.json")
    shutil.rmtree(root)
    state = generate_state_dir(root, agents=("work", "main"), sessions_per_agent=30, messy=True)
    extended = load(state.store_path("main"))
    assert {key: extended[key] for key in plain} == plain
    assert next(iter(extended)) == "agent:main:main"


# -- layout and format ---------------------------------------------------------------------


def test_layout_and_file_modes(messy: GeneratedStateDir) -> None:
    root = messy.state_dir
    assert root.is_absolute() and messy.agents == AGENTS
    for agent in (*messy.agents, *messy.corrupt_agents):
        store = messy.store_path(agent)
        assert store == root / "agents" / agent / "sessions" / "sessions.json"
        assert store.is_file() and mode(store) == 0o600
        for directory in (root, root / "agents", store.parent.parent, store.parent):
            assert mode(directory) == 0o700
    assert messy.legacy_store == root / "sessions" / "sessions.json"
    assert mode(messy.legacy_store) == 0o600 and mode(messy.legacy_store.parent) == 0o700
    for path in root.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_stores_are_written_like_json_stringify_with_two_spaces(messy: GeneratedStateDir) -> None:
    assert messy.legacy_store is not None
    for path in [messy.store_path(agent) for agent in messy.agents] + [messy.legacy_store]:
        raw = path.read_bytes()
        assert raw == json.dumps(json.loads(raw), indent=2, ensure_ascii=False).encode()
        assert raw.startswith(b'{\n  "')


def test_entries_are_valid_and_counted(clean: GeneratedStateDir, messy: GeneratedStateDir) -> None:
    for state in all_states(clean, messy):
        for agent in state.agents:
            store = load(state.store_path(agent))
            assert len(store) == state.entries[agent]
            assert next(iter(store)) == f"agent:{agent}:main"
            for entry in store.values():
                assert isinstance(entry["sessionId"], str)
                updated = entry["updatedAt"]
                assert type(updated) is int
                assert DEFAULT_NOW_MS - 60 * DAY_MS <= updated <= DEFAULT_NOW_MS


def test_session_file_points_inside_the_agents_sessions_dir(clean: GeneratedStateDir) -> None:
    for agent in clean.agents:
        sessions_dir = clean.store_path(agent).parent
        for entry in load(clean.store_path(agent)).values():
            path = Path(entry["sessionFile"])
            assert path.is_absolute() and path.parent == sessions_dir
            assert path.name.startswith(entry["sessionId"])


def test_keys_follow_openclaw_shapes(clean: GeneratedStateDir) -> None:
    store = load(clean.store_path("main"))
    kinds = {key.split(":")[2] for key in store}
    assert kinds == {"main", "telegram", "discord", "slack", "whatsapp", "webchat"} | {
        "subagent",
        "cron",
    }
    topics = [key for key in store if ":topic:" in key]
    assert topics
    for key in topics:
        entry = store[key]
        topic = int(key.rsplit(":", 1)[1])
        assert entry["lastThreadId"] == topic == entry["deliveryContext"]["threadId"]
        assert type(entry["lastThreadId"]) is int
        assert entry["sessionFile"].endswith(f"-topic-{topic}.jsonl")
    threads = [key for key in store if ":thread:" in key]
    assert {key.split(":")[2] for key in threads} == {"slack", "discord"}
    for key in threads:
        assert store[key]["lastThreadId"] == key.rsplit(":", 1)[1]
    for key in store:
        if ":subagent:" in key:
            assert store[key]["spawnedBy"].startswith("agent:main:")
    assert any(key.startswith("agent:main:cron:") for key in store)


def test_heavy_share_is_roughly_honoured(clean: GeneratedStateDir, tmp_path: Path) -> None:
    store = load(clean.store_path("work"))
    heavy = [entry for entry in store.values() if "skillsSnapshot" in entry]
    assert 0.6 <= len(heavy) / len(store) <= 0.8
    assert all("systemPromptReport" in entry for entry in heavy)
    prompts = [entry["skillsSnapshot"]["prompt"] for entry in heavy]
    # One current prompt shared by most entries, an older one by the rest.
    assert len(set(prompts)) == 2
    assert prompts.count(max(set(prompts), key=prompts.count)) > 0.8 * len(prompts)
    assert all(30_000 < len(prompt) < 50_000 for prompt in prompts)
    report = len(json.dumps(heavy[0]["systemPromptReport"]))
    assert 8_000 < report < 25_000

    light = generate_state_dir(
        tmp_path / "light", agents=("main",), sessions_per_agent=50, heavy_share=0.0
    )
    assert not any("skillsSnapshot" in e for e in load(light.store_path("main")).values())


# -- transcripts ---------------------------------------------------------------------------


def test_transcripts_have_a_v3_header_and_the_recorded_messages(
    clean: GeneratedStateDir, messy: GeneratedStateDir
) -> None:
    for state in all_states(clean, messy):
        for agent in state.agents:
            files = messages = 0
            for entry in load(state.store_path(agent)).values():
                path = Path(entry.get("sessionFile", "-"))
                if not path.is_file():
                    continue
                lines = jsonl(path)
                header = lines[0]
                assert header["type"] == "session" and header["version"] == 3
                assert header["id"] == entry["sessionId"]
                count = sum(line["type"] == "message" for line in lines)
                assert 2 <= count <= 12
                files += 1
                messages += count
            assert files == state.transcripts[agent]
            assert messages == state.messages[agent]
            # Most sessions have a transcript, not all.
            assert 0.85 * state.entries[agent] < files < state.entries[agent]


def test_transcript_entries_form_a_chain_with_usage(clean: GeneratedStateDir) -> None:
    sessions_dir = clean.store_path("main").parent
    for path in sorted(sessions_dir.glob("*.jsonl"))[:50]:
        lines = jsonl(path)
        parent = None
        for line in lines[1:]:
            assert line["parentId"] == parent
            parent = line["id"]
            message = line.get("message")
            if message and message["role"] == "assistant":
                usage = message["usage"]
                assert usage["totalTokens"] >= usage["input"] + usage["output"]
                assert message["stopReason"] in {"stop", "toolUse"}


def test_message_count_range_and_no_transcripts(tmp_path: Path) -> None:
    state = generate_state_dir(
        tmp_path / "a", agents=("main",), sessions_per_agent=20, messages_per_session=(3, 3)
    )
    assert state.messages["main"] == 3 * state.transcripts["main"]
    bare = generate_state_dir(
        tmp_path / "b", agents=("main",), sessions_per_agent=20, transcripts=False
    )
    assert bare.transcripts == {"main": 0} and bare.messages == {"main": 0}
    assert not list(bare.state_dir.rglob("*.jsonl"))


# -- messy extras --------------------------------------------------------------------------


def test_corrupt_store_does_not_parse(messy: GeneratedStateDir) -> None:
    assert messy.corrupt_agents == ("broken",)
    assert "broken" not in messy.agents and "broken" not in messy.entries
    raw = messy.store_path("broken").read_text(encoding="utf-8")
    assert raw.startswith("{") and len(raw) > 1000
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


def test_alias_keys_sit_next_to_their_lowercase_twin(messy: GeneratedStateDir) -> None:
    for agent in messy.agents:
        store = load(messy.store_path(agent))
        aliases = messy.alias_keys[agent]
        assert len(aliases) == 3
        assert f"Agent:{agent.capitalize()}:WebChat:DM:MiXeD-User" in aliases
        assert any(alias != alias.strip() for alias in aliases)
        keys = list(store)
        for alias in aliases:
            twin = alias.strip().lower()
            assert alias in store and twin in store and twin != alias
            assert abs(keys.index(alias) - keys.index(twin)) == 1
            assert store[alias]["updatedAt"] != store[twin]["updatedAt"]
            assert store[alias]["sessionId"] != store[twin]["sessionId"]


def test_orphan_transcripts_exist_unreferenced(messy: GeneratedStateDir) -> None:
    for agent in messy.agents:
        sessions_dir = messy.store_path(agent).parent
        referenced = {
            Path(entry["sessionFile"]).name
            for entry in load(messy.store_path(agent)).values()
            if "sessionFile" in entry
        }
        orphans = messy.orphan_transcripts[agent]
        assert len(orphans) == 2
        for name in orphans:
            assert (sessions_dir / name).is_file() and name not in referenced
            assert jsonl(sessions_dir / name)[0]["type"] == "session"


def test_unsafe_session_id_is_recorded_and_nothing_escapes(messy: GeneratedStateDir) -> None:
    for agent in messy.agents:
        store = load(messy.store_path(agent))
        (key,) = messy.invalid_keys[agent]
        assert store[key]["sessionId"] == "../etc/passwd"
        assert "sessionFile" not in store[key]
    outside = {p.relative_to(messy.state_dir).parts[0] for p in messy.state_dir.iterdir()}
    assert outside == {"agents", "sessions"}
    assert not list(messy.state_dir.rglob("passwd*"))


def test_legacy_fields_and_blobs(messy: GeneratedStateDir) -> None:
    store = load(messy.store_path("main"))
    entries = list(store.values())
    assert any("provider" in e and "channel" not in e for e in entries)
    assert any("lastProvider" in e and "lastChannel" not in e for e in entries)
    assert any(e.get("room") == "#general" for e in entries)
    resolved = [e for e in entries if "resolvedSkills" in e.get("skillsSnapshot", {})]
    assert len(resolved) == 2
    assert len(json.dumps(resolved[0]["skillsSnapshot"]["resolvedSkills"])) > 60_000
    sizes = sorted(len(json.dumps(e, indent=2, ensure_ascii=False).encode()) for e in entries)
    assert 180_000 < sizes[-2] <= sizes[-1] < 250_000


def test_thread_ids_keep_number_and_string_types(messy: GeneratedStateDir) -> None:
    store = load(messy.store_path("work"))
    thread_ids = [e["lastThreadId"] for e in store.values() if "lastThreadId" in e]
    assert any(type(t) is int for t in thread_ids)
    assert "77" in thread_ids and "topic/a+b" in thread_ids
    (encoded,) = [e for e in store.values() if e.get("lastThreadId") == "topic/a+b"]
    assert encoded["sessionFile"].endswith("-topic-topic%2Fa%2Bb.jsonl")
    assert encoded["deliveryContext"]["threadId"] == "topic/a+b"


def test_unicode_and_unknown_fields(messy: GeneratedStateDir) -> None:
    store = load(messy.store_path("main"))
    names = " ".join(f"{e.get('label')} {e.get('displayName')}" for e in store.values())
    for sample in ("👨‍👩‍👧‍👦", "中文", "צוות", "فريق", "\U0001d544"):
        assert sample in names
    (unknown,) = [e for e in store.values() if "futureObject" in e]
    assert unknown["futureNull"] is None and "futureNull" in unknown
    assert type(unknown["futureFloat"]) is float and unknown["futureTrue"] is True
    assert unknown["futureBigInt"] == 2**63 - 1
    assert list(unknown["futureObject"])[:2] == ["2", "10"]
    assert unknown["futureObject"]["nested"]["deeper"]["list"][3:6] == [None, True, False]
    (late,) = [e for e in store.values() if "acp" in e]
    assert type(late["archivedAt"]) is int


def test_legacy_top_level_store(messy: GeneratedStateDir) -> None:
    assert messy.legacy_store is not None
    legacy = load(messy.legacy_store)
    assert "global" in legacy
    assert [key for key in legacy if key != "global"]
    assert all(key == "global" or key.startswith("agent:main:") for key in legacy)
    # One key is also in the main agent's own store, so a split has to merge it.
    assert "agent:main:main" in legacy and "agent:main:main" in load(messy.store_path("main"))
    assert all("provider" in entry and "channel" not in entry for entry in legacy.values())


# -- arguments -----------------------------------------------------------------------------


def test_refuses_a_non_empty_directory_and_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError):
        generate_state_dir(tmp_path, sessions_per_agent=1)
    assert (tmp_path / "something").read_text(encoding="utf-8") == "keep me"
    fresh = tmp_path / "fresh"
    with pytest.raises(ValueError, match="agent id"):
        generate_state_dir(fresh, agents=("Main",))
    with pytest.raises(ValueError, match="reserved"):
        generate_state_dir(fresh, agents=("broken",), messy=True)
    with pytest.raises(ValueError, match="messages_per_session"):
        generate_state_dir(fresh, messages_per_session=(5, 2))
    assert not fresh.exists()
