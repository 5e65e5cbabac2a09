"""``SessionStoreSessionService`` against the installed google-adk, on every kind of
store: the behaviours ADK's own session-service tests state (written here afresh),
state scopes, stale writers, concurrency, a writer killed between its two steps, a
real ``Runner`` on a model that needs no key, and the import of an ADK database."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.adk.agents import LlmAgent
from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.adk.sessions.session import Session
from google.adk.tools.tool_confirmation import ToolConfirmation
from google.genai import types

from sessionstore import InvalidEntryError, SessionStoreError, open_async_store
from sessionstore.integrations.adk import (
    SessionStoreSessionService,
    import_adk_database,
    session_key,
)
from tests.integrations.conftest import run

T = TypeVar("T")
APP, USER = "my_app", "user"


@pytest.fixture
def url(target: str) -> str:
    """A fresh store of each kind: a SQLite file, the JSON twin (files tier), and the
    servers (SQL tier)."""
    return target


def said(text: str, timestamp: float | None = None, /, **delta: Any) -> Event:
    fields: dict[str, Any] = {} if timestamp is None else {"timestamp": timestamp}
    return Event(
        invocation_id="invocation",
        author="user",
        content=types.Content(role="user", parts=[types.Part(text=text)]),
        actions=EventActions(state_delta=delta),
        **fields,
    )


def texts(session: Session | None) -> list[str]:
    assert session is not None
    return [e.content.parts[0].text or "" for e in session.events if e.content and e.content.parts]


# -- create, get, list, delete ------------------------------------------------------------


def test_create_get_delete(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            assert await service.get_session(app_name=APP, user_id=USER, session_id="123") is None
            await service.delete_session(app_name=APP, user_id=USER, session_id="123")  # no-op
            session = await service.create_session(app_name=APP, user_id=USER, state={"k": "v"})
            assert session.id and session.state == {"k": "v"} and session.events == []
            got = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
            assert got == session
            with pytest.raises(AlreadyExistsError):
                await service.create_session(app_name=APP, user_id=USER, session_id=session.id)
            await service.append_event(session, said("hello"))
            await service.delete_session(app_name=APP, user_id=USER, session_id=session.id)
            assert (
                await service.get_session(app_name=APP, user_id=USER, session_id=session.id) is None
            )
            with pytest.raises(SessionNotFoundError):
                await service.append_event(session, said("gone"))
            # the same id again is a new session: no events of the deleted one
            again = await service.create_session(app_name=APP, user_id=USER, session_id=session.id)
            got = await service.get_session(app_name=APP, user_id=USER, session_id=again.id)
            assert got is not None and got.events == [] and got.state == {}

    run(main())


def test_list_sessions_oldest_update_first_with_state_and_no_events(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            made = []
            for n in range(5):
                made.append(
                    await service.create_session(
                        app_name=APP, user_id=USER, session_id=f"session{n}", state={"n": n}
                    )
                )
            other = await service.create_session(app_name=APP, user_id="other", session_id="x")
            # the oldest session becomes the newest
            await service.append_event(made[0], said("now", made[-1].last_update_time + 5))
            listed = (await service.list_sessions(app_name=APP, user_id=USER)).sessions
            assert [s.id for s in listed] == [f"session{n}" for n in (1, 2, 3, 4, 0)]
            assert all(s.events == [] for s in listed)
            assert [s.state["n"] for s in listed] == [1, 2, 3, 4, 0]
            everyone = (await service.list_sessions(app_name=APP)).sessions
            assert {(s.user_id, s.id) for s in everyone} == {
                (USER, f"session{n}") for n in range(5)
            } | {("other", other.id)}
            assert (await service.list_sessions(app_name="nobody")).sessions == []

    run(main())


def test_names_with_separators_stay_apart(url: str) -> None:
    """Apps, users and ids holding ':' and '%' list and read back as themselves."""

    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            pairs = [("a", "b:c", "1"), ("a:b", "c", "1"), ("a", "b", "c:1"), ("a%3Ab", "c", "1")]
            for app, user, sid in pairs:
                await service.create_session(app_name=app, user_id=user, session_id=sid)
            listed = (await service.list_sessions(app_name="a")).sessions
            assert [(s.user_id, s.id) for s in listed] == [("b:c", "1"), ("b", "c:1")]
            for app in ("a:b", "a%3Ab"):
                listed = (await service.list_sessions(app_name=app)).sessions
                assert [(s.app_name, s.user_id, s.id) for s in listed] == [(app, "c", "1")]
            assert (await service.list_sessions(app_name="a", user_id="b")).sessions[0].id == "c:1"
            assert len({session_key(*p) for p in pairs}) == len(pairs)

    run(main())


# -- state --------------------------------------------------------------------------------


def test_state_scopes_and_temp(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            s11 = await service.create_session(
                app_name=APP, user_id="user1", state={"key11": "value11"}, session_id="s11"
            )
            await service.create_session(
                app_name=APP, user_id="user1", state={"key12": "value12"}, session_id="s12"
            )
            await service.create_session(app_name=APP, user_id="user2", session_id="s2")
            delta = {"app:key": "value", "user:key1": "value1", "temp:key": "temp", "key11": "new"}
            event = await service.append_event(s11, said("text", **delta))
            # temp is visible to the rest of the invocation, never stored
            assert s11.state["temp:key"] == "temp"
            assert "temp:key" not in event.actions.state_delta
            s12 = await service.get_session(app_name=APP, user_id="user1", session_id="s12")
            assert s12 is not None
            assert s12.state == {"key12": "value12", "app:key": "value", "user:key1": "value1"}
            s2 = await service.get_session(app_name=APP, user_id="user2", session_id="s2")
            assert s2 is not None and s2.state == {"app:key": "value"}
            again = await service.get_session(app_name=APP, user_id="user1", session_id="s11")
            assert again is not None
            assert again.state == {"key11": "new", "app:key": "value", "user:key1": "value1"}
            assert "temp:key" not in again.events[0].actions.state_delta
            assert await service.get_user_state(app_name=APP, user_id="user1") == {"key1": "value1"}
            assert await service.get_user_state(app_name=APP, user_id="user2") == {}
            assert await service.get_user_state(app_name="none", user_id="x") == {}
            # a new session starts with the stored app and user state, and its own
            fresh = await service.create_session(
                app_name=APP, user_id="user1", state={"user:key2": 2, "temp:t": 1, "own": 1}
            )
            assert fresh.state == {
                "own": 1,
                "app:key": "value",
                "user:key1": "value1",
                "user:key2": 2,
            }
            # a user's listing merges that user's state only ("user1" is a prefix of "user10")
            await service.create_session(
                app_name=APP, user_id="user10", state={"user:key1": "other"}, session_id="s10"
            )
            listed = (await service.list_sessions(app_name=APP, user_id="user1")).sessions
            assert {s.id for s in listed} == {"s11", "s12", fresh.id}
            assert {s.state["user:key1"] for s in listed} == {"value1"}

    run(main())


# -- events -------------------------------------------------------------------------------


def test_events_round_trip_exactly(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id=USER)
            image = types.Content(
                role="user", parts=[types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png")]
            )
            await service.append_event(
                session,
                Event(
                    invocation_id="inv",
                    author="user",
                    content=image,
                    grounding_metadata=types.GroundingMetadata(
                        search_entry_point=types.SearchEntryPoint(sdk_blob=b"blob")
                    ),
                    timestamp=1767225600.123457,
                ),
            )
            await service.append_event(
                session,
                Event(
                    invocation_id="inv",
                    author="agent",
                    content=types.Content(role="model", parts=[types.Part(text="done")]),
                    turn_complete=True,
                    actions=EventActions(
                        artifact_delta={"file": 0}, transfer_to_agent="agent", escalate=True
                    ),
                    long_running_tool_ids={"tool1"},
                    error_code="error_code",
                    error_message="error_message",
                    interrupted=True,
                ),
            )
            partial = Event(invocation_id="inv", author="agent", partial=True)
            assert await service.append_event(session, partial) is partial  # not stored
            got = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
            assert got == session
            assert got is not None and got.events[0].timestamp == 1767225600.123457
            assert got.last_update_time == session.events[-1].timestamp

    run(main())


def test_get_session_config(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id=USER)
            for i in range(1, 6):
                await service.append_event(session, Event(author="user", timestamp=float(i)))

            async def stamps(**config: Any) -> list[float]:
                got = await service.get_session(
                    app_name=APP,
                    user_id=USER,
                    session_id=session.id,
                    config=GetSessionConfig(**config) if config else None,
                )
                assert got is not None
                return [e.timestamp for e in got.events]

            assert await stamps() == [1, 2, 3, 4, 5]
            assert await stamps(num_recent_events=3) == [3, 4, 5]
            assert await stamps(num_recent_events=10) == [1, 2, 3, 4, 5]
            assert await stamps(num_recent_events=0) == []
            assert await stamps(after_timestamp=4.0) == [4, 5]  # inclusive
            assert await stamps(after_timestamp=50.0) == []
            assert await stamps(after_timestamp=4.0, num_recent_events=3) == [4, 5]
            assert await stamps(after_timestamp=2.0, num_recent_events=2) == [4, 5]
            with pytest.raises(ValueError, match="greater than or equal to 0"):
                GetSessionConfig(num_recent_events=-1)

    run(main())


@pytest.mark.slow
def test_recent_events_of_a_long_session_are_a_bounded_read(tmp_path: Path) -> None:
    """num_recent_events and after_timestamp read pages from the newest end only."""

    async def main() -> None:
        async with SessionStoreSessionService(tmp_path / "sessions.db") as service:
            session = await service.create_session(app_name=APP, user_id=USER)
            events = [Event(author="user", timestamp=float(i)) for i in range(2500)]
            for event in events:
                await service.append_event(session, event)
            pages: list[dict[str, Any]] = []
            transcripts = service.store.transcripts
            original = transcripts.page

            async def counted(key: str, **kwargs: Any) -> Any:
                pages.append(kwargs)
                return await original(key, **kwargs)

            transcripts.page = counted  # type: ignore[method-assign]
            got = await service.get_session(
                app_name=APP,
                user_id=USER,
                session_id=session.id,
                config=GetSessionConfig(num_recent_events=2),
            )
            assert got is not None and [e.timestamp for e in got.events] == [2498, 2499]
            assert [p["limit"] for p in pages] == [2]
            pages.clear()
            got = await service.get_session(
                app_name=APP,
                user_id=USER,
                session_id=session.id,
                config=GetSessionConfig(after_timestamp=1400.0),
            )
            assert got is not None and len(got.events) == 1100
            assert len(pages) == 2  # 1,000 and then 100 of the next page: not 2,500
            pages.clear()
            got = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
            assert got is not None and got.events == events and len(pages) == 3

    run(main())


def test_events_are_transcript_messages(url: str) -> None:
    """Events with text are messages of the transcript: counted and searchable."""

    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id=USER)
            await service.append_event(session, said("where is the lighthouse"))
            await service.append_event(session, Event(author="user", actions=EventActions()))
            key = session_key(APP, USER, session.id)
            transcripts = service.store.transcripts
            assert await transcripts.count(key) == 1
            hits = await transcripts.search("lighthouse")
            assert [hit.key for hit in hits] == [key]
            tail = await transcripts.tail(key)
            assert [e["id"] for e in tail] == [e.id for e in session.events]
            entry = await service.store.get(key)
            assert entry is not None and entry.message_count == 1

    run(main())


# -- more of ADK's contract ---------------------------------------------------------------


def test_a_new_session_names_its_app_and_user_and_a_past_update_time(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            before = time.time()
            session = await service.create_session(app_name=APP, user_id=USER, state={"k": "v"})
            assert (session.app_name, session.user_id) == (APP, USER)
            assert before <= session.last_update_time <= time.time()
            got = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
            assert got is not None and got.last_update_time == session.last_update_time

    run(main())


def test_one_session_id_under_two_users_is_two_sessions(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            first = await service.create_session(app_name=APP, user_id="u1", session_id="s1")
            await service.append_event(first, said("only u1's"))
            await service.create_session(app_name=APP, user_id="u2", session_id="s1")
            got = await service.get_session(app_name=APP, user_id="u2", session_id="s1")
            assert got is not None and got.user_id == "u2" and got.events == []
            assert texts(
                await service.get_session(app_name=APP, user_id="u1", session_id="s1")
            ) == ["only u1's"]

    run(main())


def test_a_padded_session_id_reaches_the_trimmed_session(url: str) -> None:
    """As ADK's in-memory and SQLite services: surrounding whitespace of a session id
    is not part of it, and a blank id is no id."""

    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            padded = "order-42\n"
            made = await service.create_session(
                app_name=APP, user_id=USER, session_id=padded, state={"cart": "book"}
            )
            assert made.id == "order-42"
            with pytest.raises(AlreadyExistsError):
                await service.create_session(app_name=APP, user_id=USER, session_id=" order-42 ")
            got = await service.get_session(app_name=APP, user_id=USER, session_id=padded)
            assert got is not None and got.id == "order-42" and got.state == {"cart": "book"}
            await service.delete_session(app_name=APP, user_id=USER, session_id=padded)
            assert (
                await service.get_session(app_name=APP, user_id=USER, session_id="order-42") is None
            )
            blank = await service.create_session(app_name=APP, user_id=USER, session_id="   ")
            assert blank.id.strip() == blank.id and blank.id
            # a session stored under a padded id (imported from ADK's database service,
            # which keeps ids verbatim) is reached by that id
            legacy = Session(app_name=APP, user_id=USER, id=" legacy ", last_update_time=1.0)
            await service.import_session(legacy, app_state={}, user_state={})
            got = await service.get_session(app_name=APP, user_id=USER, session_id=" legacy ")
            assert got is not None and got.id == " legacy "
            assert (
                await service.get_session(app_name=APP, user_id=USER, session_id="legacy") is None
            )

    run(main())


def test_a_listing_of_every_user_merges_each_users_own_state(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            for user, sid in (("user1", "s1a"), ("user1", "s1b"), ("user2", "s2a")):
                await service.create_session(
                    app_name=APP,
                    user_id=user,
                    session_id=sid,
                    state={"key": f"value-{sid}", "user:who": user, "app:all": 1},
                )
            everyone = (await service.list_sessions(app_name=APP, user_id=None)).sessions
            assert {s.id: s.state for s in everyone} == {
                sid: {"key": f"value-{sid}", "user:who": user, "app:all": 1}
                for user, sid in (("user1", "s1a"), ("user1", "s1b"), ("user2", "s2a"))
            }
            one = (await service.list_sessions(app_name=APP, user_id="user2")).sessions
            assert [(s.id, s.state["user:who"]) for s in one] == [("s2a", "user2")]

    run(main())


def test_app_and_user_state_given_at_creation_is_shared_like_a_delta(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            s1 = await service.create_session(
                app_name=APP, user_id="u1", session_id="s1", state={"app:k1": 1, "user:k1": 1}
            )
            await service.append_event(s1, said("more", **{"app:k2": 2, "user:k2": 2}))
            same_user = await service.create_session(app_name=APP, user_id="u1", session_id="s1b")
            assert same_user.state == {"app:k1": 1, "app:k2": 2, "user:k1": 1, "user:k2": 2}
            other_user = await service.create_session(app_name=APP, user_id="u2", session_id="s2")
            assert other_user.state == {"app:k1": 1, "app:k2": 2}
            again = await service.get_session(app_name=APP, user_id="u1", session_id="s1")
            assert again is not None and again.state == same_user.state

    run(main())


def test_a_delta_value_replaces_the_stored_one_whole_none_and_types_included(url: str) -> None:
    """Dicts are replaced, not deep-merged; None is stored, not a deletion; a stored
    False stays a bool: in the session object, read back, and in app and user state."""

    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(
                app_name=APP,
                user_id="u1",
                session_id="s1",
                state={
                    "profile": {"name": "ada", "role": "admin"},
                    "flag": True,
                    "off": False,
                    "app:cfg": {"name": "ada", "role": "admin"},
                    "user:pref": "dark",
                },
            )
            delta = {
                "profile": {"name": "bob"},
                "flag": None,
                "new": True,
                "app:cfg": {"name": "bob"},
                "user:pref": None,
            }
            await service.append_event(session, said("change", **delta))
            expected = {"off": False} | delta
            reloaded = await service.get_session(app_name=APP, user_id="u1", session_id="s1")
            assert reloaded is not None
            for state in (session.state, reloaded.state):
                assert state == expected
                assert state["off"] is False and state["new"] is True
            same_user = await service.create_session(app_name=APP, user_id="u1", session_id="s1b")
            assert same_user.state == {"app:cfg": {"name": "bob"}, "user:pref": None}
            other = await service.create_session(app_name=APP, user_id="u2", session_id="s2")
            assert other.state == {"app:cfg": {"name": "bob"}}

    run(main())


def test_temp_state_is_trimmed_from_the_event_given_and_seen_by_the_next(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id=USER, session_id="s")
            first = said("one", **{"temp:out": "from one", "sk": "v"})
            await service.append_event(session, first)
            assert first.actions.state_delta == {"sk": "v"}  # the caller's event too
            assert session.state["temp:out"] == "from one"  # for the next agent of the run
            await service.append_event(session, said("two"))
            assert session.state == {"temp:out": "from one", "sk": "v"}
            got = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            assert got is not None and got.state == {"sk": "v"}

    run(main())


def test_every_field_of_an_event_round_trips(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id=USER)
            event = Event(
                invocation_id="invocation",
                author="user",
                content=types.Content(role="user", parts=[types.Part(text="test_text")]),
                turn_complete=True,
                partial=False,
                actions=EventActions(
                    artifact_delta={"file": 0},
                    requested_tool_confirmations={
                        "call_1": ToolConfirmation(
                            hint="confirm?", confirmed=False, payload={"album": "a_1"}
                        )
                    },
                ),
                usage_metadata=types.GenerateContentResponseUsageMetadata(
                    prompt_token_count=1, candidates_token_count=1, total_token_count=2
                ),
                citation_metadata=types.CitationMetadata(),
                custom_metadata={"custom_key": "custom_value"},
                input_transcription=types.Transcription(text="in", finished=True),
                output_transcription=types.Transcription(text="out", finished=True),
                timestamp=1700000000.123,
            )
            await service.append_event(session, event)
            got = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
            assert got == session
            assert got is not None
            confirmation = got.events[0].actions.requested_tool_confirmations["call_1"]
            assert (confirmation.hint, confirmation.confirmed) == ("confirm?", False)
            assert confirmation.payload == {"album": "a_1"}

    run(main())


def test_last_update_time_is_the_appended_events_timestamp(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id=USER)
            created = session.last_update_time
            stamp = created + 10
            await service.append_event(session, said("later", stamp))
            assert session.last_update_time == stamp
            got = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
            assert got is not None and got.last_update_time == stamp > created

    run(main())


def test_user_state_is_per_app_and_the_latest_write(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id="u1")
            await service.append_event(
                session, said("1", **{"user:counter": 1, "user:p": {"v": 1}})
            )
            await service.append_event(session, said("2", **{"user:counter": 2, "mine": 1}))
            assert await service.get_user_state(app_name=APP, user_id="u1") == {
                "counter": 2,
                "p": {"v": 1},
            }
            assert await service.get_user_state(app_name="other_app", user_id="u1") == {}
            assert await service.get_user_state(app_name=APP, user_id="u2") == {}

    run(main())


def test_the_last_event_delivered_again_is_stored_once(url: str) -> None:
    """As the same object or an equal copy: one event, its delta applied once."""

    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id=USER, session_id="s")
            event = said("once", **{"user:counter": 1, "n": 1})
            for delivered in (event, event, event.model_copy(deep=True)):
                assert await service.append_event(session, delivered) is delivered
            got = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            assert got is not None and [e.id for e in got.events] == [event.id]
            assert session.events == got.events and got.state == {"user:counter": 1, "n": 1}
            await service.append_event(session, said("next"))  # the session is still fresh
            assert texts(await service.get_session(app_name=APP, user_id=USER, session_id="s")) == [
                "once",
                "next",
            ]

    run(main())


def test_a_different_event_with_the_last_events_id_is_refused(url: str) -> None:
    """Event ids are unique within a session (the transcript's own): a different event
    reusing the last one's id gets a clear error, and nothing of it is stored."""

    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id=USER, session_id="s")
            await service.append_event(
                session, Event(id="shared", author="user", invocation_id="a")
            )
            again = Event(
                id="shared",
                author="agent",
                invocation_id="b",
                actions=EventActions(state_delta={"k": 1}),
            )
            with pytest.raises(ValueError, match="needs an id of its own"):
                await service.append_event(session, again)
            got = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            assert got is not None and [e.author for e in got.events] == ["user"]
            assert got.state == {} and session.events == got.events

    run(main())


def test_an_event_with_an_older_events_id_is_refused_whole_on_the_sql_tier(
    sql_target: str,
) -> None:
    """Where the event and the session's next revision are one transaction (the sql
    tier), an event whose id an earlier event of the session has is refused whole, as
    ADK's database service refuses it: its state delta is not applied."""

    async def main() -> None:
        async with SessionStoreSessionService(sql_target) as service:
            session = await service.create_session(app_name=APP, user_id=USER, session_id="s")
            await service.append_event(session, Event(id="first", author="user", invocation_id="a"))
            await service.append_event(session, said("second", n=1))
            reused = Event(
                id="first",
                author="agent",
                invocation_id="b",
                actions=EventActions(state_delta={"n": 2}),
            )
            with pytest.raises(ValueError, match="already"):
                await service.append_event(session, reused)
            got = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            assert got is not None and got.state == {"n": 1}
            assert [e.author for e in got.events] == ["user", "user"]
            await service.append_event(session, said("third", n=3))  # still fresh
            got = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            assert got is not None and got.state == {"n": 3} and len(got.events) == 3

    run(main())


@pytest.fixture
def zone_with_a_repeated_hour() -> Iterator[None]:
    """Local time in a zone that repeats an hour each autumn (POSIX ``tzset``)."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX-only")
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_events_in_a_repeated_local_hour_keep_their_instants(
    url: str, zone_with_a_repeated_hour: None
) -> None:
    # 06:00 and 06:30 UTC on 2024-11-03 are New York's second 01:00 and 01:30
    stamps = [1730613600.0, 1730615400.0]

    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name=APP, user_id=USER)
            for stamp in stamps:
                await service.append_event(session, Event(author="user", timestamp=stamp))
            got = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
            assert got is not None and [e.timestamp for e in got.events] == stamps

    run(main())


# -- writers ------------------------------------------------------------------------------


def test_a_stale_writer_gets_adks_error(url: str) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            created = await service.create_session(app_name=APP, user_id=USER, session_id="s")
            first = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            second = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            assert first is not None and second is not None
            await service.append_event(first, said("one", n=1))
            with pytest.raises(StaleSessionError):
                await service.append_event(second, said("two", n=2))
            with pytest.raises(StaleSessionError):
                await service.append_event(created, said("three", n=3))
            await service.append_event(first, said("four", n=4))  # the fresh one goes on
            got = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            assert texts(got) == ["one", "four"] and got is not None and got.state == {"n": 4}
            # a session object built by hand is judged by its last event
            built = Session(
                app_name=APP, user_id=USER, id="s", events=list(got.events), last_update_time=0
            )
            await service.append_event(built, said("five"))
            with pytest.raises(StaleSessionError):
                await service.append_event(
                    Session(app_name=APP, user_id=USER, id="s", last_update_time=0), said("six")
                )

    run(main())


def test_concurrent_writers_of_one_session_never_interleave(url: str) -> None:
    async def main() -> None:
        async with (
            SessionStoreSessionService(url) as service,
            SessionStoreSessionService(url) as other,
        ):
            await service.create_session(app_name=APP, user_id=USER, session_id="s")
            a = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            b = await other.get_session(app_name=APP, user_id=USER, session_id="s")
            assert a is not None and b is not None

            async def write(service: SessionStoreSessionService, session: Session, who: str) -> str:
                try:
                    for n in range(3):
                        await service.append_event(session, said(f"{who}{n}"))
                except StaleSessionError:
                    return "stale"
                return "done"

            outcomes = await asyncio.gather(write(service, a, "a"), write(other, b, "b"))
            assert sorted(outcomes) == ["done", "stale"]
            winner = "a" if outcomes[0] == "done" else "b"
            loser = "b" if winner == "a" else "a"
            got = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            stored = texts(got)
            # the winner's three events, in order; the loser's only as a prefix it got
            # in before the winner read the session (never between the winner's)
            assert stored[-3:] == [f"{winner}0", f"{winner}1", f"{winner}2"]
            assert stored[:-3] in ([], [f"{loser}0"], [f"{loser}0", f"{loser}1"])
            winning = a if winner == "a" else b
            assert texts(winning) == stored

    run(main())


def test_many_sessions_append_concurrently(url: str) -> None:
    """Sessions of one app and user write app and user state at once: every write lands."""

    async def main() -> None:
        async with SessionStoreSessionService(url) as service:
            sessions = [
                await service.create_session(app_name=APP, user_id=USER, session_id=f"s{n}")
                for n in range(12)
            ]

            async def chat(session: Session) -> None:
                for turn in range(4):
                    await service.append_event(
                        session,
                        said(
                            f"{session.id}-{turn}",
                            **{f"app:{session.id}": turn, f"user:{session.id}": turn, "turn": turn},
                        ),
                    )

            await asyncio.gather(*(chat(s) for s in sessions))
            for session in sessions:
                got = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
                assert texts(got) == [f"{session.id}-{turn}" for turn in range(4)]
                assert got is not None and got.state["turn"] == 3
            user_state = await service.get_user_state(app_name=APP, user_id=USER)
            assert user_state == {s.id: 3 for s in sessions}
            listed = (await service.list_sessions(app_name=APP)).sessions
            assert len(listed) == 12
            assert all(s.state[f"app:{t.id}"] == 3 for s in listed for t in sessions)

    run(main())


CRASHING_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from google.adk.events.event import Event
    from google.genai import types
    from sessionstore.integrations.adk import SessionStoreSessionService

    class Stopping(SessionStoreSessionService):
        async def _complete(self, key, pending):
            print("recorded", flush=True)  # the event is recorded, not yet appended
            await asyncio.to_thread(sys.stdin.read)  # killed here

    async def main():
        service = Stopping(sys.argv[1])
        session = await service.get_session(app_name="app", user_id="u", session_id="s")
        content = types.Content(role="user", parts=[types.Part(text="second")])
        event = Event(id="e-second", author="user", content=content,
                      actions={"state_delta": {"n": 2, "user:n": 2}})
        await service.append_event(session, event)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("next_call", ["get_session", "append_event"])
def test_a_writer_killed_after_recording_loses_nothing(
    url: str, tmp_path: Path, next_call: str
) -> None:
    async def before() -> None:
        async with SessionStoreSessionService(url) as service:
            session = await service.create_session(app_name="app", user_id="u", session_id="s")
            await service.append_event(session, said("first", n=1))

    run(before())
    script = tmp_path / "writer.py"
    script.write_text(CRASHING_WRITER)
    with subprocess.Popen(
        [sys.executable, str(script), url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "recorded\n"
        child.kill()
        child.wait()

    async def after() -> None:
        async with SessionStoreSessionService(url) as service:
            key = session_key("app", "u", "s")
            # the state went with the record; the transcript still lacks the event
            assert [e["id"] for e in await service.store.transcripts.tail(key)][-1] != "e-second"
            if next_call == "get_session":
                got = await service.get_session(app_name="app", user_id="u", session_id="s")
            else:
                stale = Session(app_name="app", user_id="u", id="s", last_update_time=0)
                with pytest.raises(StaleSessionError):  # it never saw "second"
                    await service.append_event(stale, said("third"))
                got = await service.get_session(
                    app_name="app", user_id="u", session_id="s", config=GetSessionConfig()
                )
                assert got is not None
                await service.append_event(got, said("third"))
                got = await service.get_session(app_name="app", user_id="u", session_id="s")
            expected = ["first", "second"] + ([] if next_call == "get_session" else ["third"])
            assert texts(got) == expected
            assert got is not None and got.state == {"n": 2, "user:n": 2}
            assert len(await service.store.transcripts.tail(key)) == len(expected)

    run(after())


# -- a real Runner --------------------------------------------------------------------


class EchoModel(BaseLlm):
    """A model that answers with the user's last words: no key, no network."""

    model: str = "echo"

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        last = llm_request.contents[-1].parts or []
        yield LlmResponse(
            content=types.Content(role="model", parts=[types.Part(text=f"echo: {last[0].text}")]),
            usage_metadata=types.GenerateContentResponseUsageMetadata(
                prompt_token_count=7, candidates_token_count=3, total_token_count=10
            ),
        )


def test_runner_two_turns_then_a_fresh_service(url: str) -> None:
    async def main() -> str:
        agent = LlmAgent(name="echo", model=EchoModel(), instruction="Echo.", output_key="reply")
        async with SessionStoreSessionService(url) as service:
            runner = Runner(app_name="demo", agent=agent, session_service=service)
            session = await service.create_session(app_name="demo", user_id="alice")
            for words in ("hello", "again"):
                message = types.Content(role="user", parts=[types.Part(text=words)])
                async for _ in runner.run_async(
                    user_id="alice", session_id=session.id, new_message=message
                ):
                    pass
        return session.id

    session_id = run(main())

    async def read() -> None:
        async with SessionStoreSessionService(url) as service:
            got = await service.get_session(app_name="demo", user_id="alice", session_id=session_id)
            assert texts(got) == ["hello", "echo: hello", "again", "echo: again"]
            assert got is not None and got.state == {"reply": "echo: again"}
            entry = await service.store.get(session_key("demo", "alice", session_id))
            assert entry is not None
            assert (entry.message_count, entry.input_tokens, entry.output_tokens) == (4, 14, 6)

    run(read())


# -- coming from ADK's DatabaseSessionService ----------------------------------------


def test_import_an_adk_database(url: str, tmp_path: Path) -> None:
    source_path = tmp_path / "adk.db"
    source_url = f"sqlite+aiosqlite:///{source_path}"

    async def fill() -> list[Session]:
        source = DatabaseSessionService(source_url)
        try:
            made = []
            for app, user, n_events in (("a1", "u1", 3), ("a1", "u2", 0), ("a2", "u1", 2)):
                session = await source.create_session(
                    app_name=app, user_id=user, state={"own": user, "app:shared": app}
                )
                for n in range(n_events):
                    await source.append_event(session, said(f"{app}-{n}", **{"user:seen": n}))
                made.append(session)
            return made
        finally:
            await source.close()

    made = run(fill())
    digest = hashlib.sha256(source_path.read_bytes()).hexdigest()

    async def migrate() -> None:
        async with SessionStoreSessionService(url) as service:
            report = await import_adk_database(source_url, service)
            assert (report.sessions, report.events) == (3, 5)
            assert (report.sessions_present, report.events_present) == (0, 0)
            for original in made:
                got = await service.get_session(
                    app_name=original.app_name, user_id=original.user_id, session_id=original.id
                )
                assert got is not None
                assert got.events == original.events
                assert got.state == original.state
                assert got.last_update_time == original.last_update_time
            assert await service.get_user_state(app_name="a1", user_id="u1") == {"seen": 2}
            again = await import_adk_database(source_url, service)  # a re-run copies nothing
            assert (again.sessions_present, again.events_present) == (3, 5)
            listed = (await service.list_sessions(app_name="a1")).sessions
            assert len(listed) == 2
            for listed_session in listed:
                got = await service.get_session(
                    app_name="a1", user_id=listed_session.user_id, session_id=listed_session.id
                )
                assert len(texts(got)) == (3 if listed_session.user_id == "u1" else 0)
        # the copy goes on as any session does
        async with SessionStoreSessionService(url) as service:
            first = made[0]
            got = await service.get_session(app_name="a1", user_id="u1", session_id=first.id)
            assert got is not None
            await service.append_event(got, said("after"))
            assert texts(
                await service.get_session(app_name="a1", user_id="u1", session_id=first.id)
            ) == ["a1-0", "a1-1", "a1-2", "after"]

    run(migrate())
    assert hashlib.sha256(source_path.read_bytes()).hexdigest() == digest  # never written


def test_an_event_too_large_for_an_entry_is_refused_whole_where_it_passes_through_one(
    tmp_path: Path,
) -> None:
    """With transcripts in files the event is recorded in the entry first (as pending):
    one too large for an entry is refused and nothing changes."""

    async def main() -> None:
        url = tmp_path / "sessions.db"
        async with SessionStoreSessionService(
            url,
            max_entry_bytes=64 * 1024,
            transcripts="files",
            transcripts_dir=tmp_path / "transcripts",
        ) as service:
            session = await service.create_session(app_name=APP, user_id=USER, session_id="s")
            await service.append_event(session, said("small", n=1))
            with pytest.raises(InvalidEntryError, match="max_entry_bytes"):
                await service.append_event(session, said("x" * 100_000, n=2))
            await service.append_event(session, said("after", n=3))  # still fresh
            got = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            assert texts(got) == ["small", "after"] and got is not None and got.state == {"n": 3}

    run(main())


def test_an_event_larger_than_an_entry_goes_whole_into_a_sql_transcript(tmp_path: Path) -> None:
    """On the sql tier the event and the entry are one transaction: the event never
    passes through the entry, so its size is the transcript's affair."""

    async def main() -> None:
        url = tmp_path / "sessions.db"
        async with SessionStoreSessionService(url, max_entry_bytes=64 * 1024) as service:
            session = await service.create_session(app_name=APP, user_id=USER, session_id="s")
            await service.append_event(session, said("small", n=1))
            await service.append_event(session, said("x" * 100_000, n=2))
            got = await service.get_session(app_name=APP, user_id=USER, session_id="s")
            assert texts(got) == ["small", "x" * 100_000] and got is not None
            assert got.state == {"n": 2}

    run(main())


def test_import_refuses_a_missing_database(tmp_path: Path) -> None:
    async def main() -> None:
        async with SessionStoreSessionService(tmp_path / "sessions.db") as service:
            with pytest.raises(SessionStoreError, match="no ADK database"):
                await import_adk_database(f"sqlite+aiosqlite:///{tmp_path}/none.db", service)

    run(main())
    assert not (tmp_path / "none.db").exists()


def test_constructor_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="either url= or store="):
        SessionStoreSessionService()

    async def main() -> None:
        store = open_async_store(tmp_path / "sessions.db", auto_upgrade=True, agent_id="bot")
        with pytest.raises(ValueError, match="store= is open already"):
            SessionStoreSessionService(store=store, agent_id="x")
        async with SessionStoreSessionService(store=store) as service:
            await service.create_session(app_name=APP, user_id=USER, session_id="s")
        # the store given stays open, and holds the session under its agent
        assert await store.count(key_prefix="adk:") == 1 and store.agent_id == "bot"
        await store.close()

    run(main())
