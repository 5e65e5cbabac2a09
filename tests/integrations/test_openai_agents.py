"""``sessionstore.integrations.openai_agents``: the Agents SDK's ``Session`` protocol on
every kind of store (the JSON twin with its files tier, a SQLite file, PostgreSQL and
MySQL/MariaDB with the SQL tier), with the SDK's ordering and limit semantics, under
concurrent runners (tasks, stores, another process), and driven by a real
``agents.Runner`` on a model of this file that answers without any API.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from agents import Agent, Runner, SQLiteSession, set_tracing_disabled
from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.memory import Session, SessionSettings
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import ResponseOutputMessage, ResponseOutputText

from sessionstore import InvalidArgumentError, open_async_store
from sessionstore.integrations import _history as history
from sessionstore.integrations.openai_agents import (
    ITEM_FIELD,
    KEY_PREFIX,
    SessionStoreSession,
    import_session,
)
from tests.integrations.conftest import run

T = TypeVar("T")


def user(text: str) -> TResponseInputItem:
    return {"role": "user", "content": text}


def said(text: str) -> TResponseInputItem:
    """An assistant message item as the SDK stores a model's answer."""
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def texts(items: list[TResponseInputItem]) -> list[Any]:
    return [dict(item).get("content") for item in items]


# -- the protocol ------------------------------------------------------------------------


def test_it_is_an_sdk_session(target: str) -> None:
    async def main() -> None:
        async with SessionStoreSession("chat", url=target) as session:
            assert isinstance(session, Session)
            assert session.session_id == "chat"
            assert session.session_settings == SessionSettings()

    run(main())


def test_items_come_back_exactly_as_added(target: str) -> None:
    items: list[TResponseInputItem] = [
        user("Wie spät ist es? 🕐"),
        said("Es ist 7:40."),
        {"type": "function_call", "call_id": "c1", "name": "clock", "arguments": '{"tz": "CET"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "07:40"},
        {"role": "user", "content": [{"type": "input_text", "text": "and now?"}]},
        # any JSON the SDK may add, kept as it is
        cast(TResponseInputItem, {"type": "reasoning", "id": "rs_1", "x": [1, 2.5, None]}),
    ]

    async def main() -> None:
        async with SessionStoreSession("exact", url=target) as session:
            await session.add_items(items[:2])
            await session.add_items(items[2:])
        async with SessionStoreSession("exact", url=target) as fresh:  # a new process, say
            assert await fresh.get_items() == items

    run(main())


def test_get_items_returns_the_latest_in_order(target: str) -> None:
    async def main() -> None:
        async with SessionStoreSession("limits", url=target) as session:
            assert await session.get_items() == []
            await session.add_items([user(f"m{i}") for i in range(7)])
            assert texts(await session.get_items(3)) == ["m4", "m5", "m6"]
            assert texts(await session.get_items(7)) == [f"m{i}" for i in range(7)]
            assert texts(await session.get_items(100)) == [f"m{i}" for i in range(7)]
            assert await session.get_items(0) == []
            with pytest.raises(InvalidArgumentError, match="limit"):
                await session.get_items(-1)

    run(main())


def test_session_settings_give_the_default_limit(target: str) -> None:
    async def main() -> None:
        store = open_async_store(target)
        async with store:
            typed = SessionStoreSession("s", store=store, session_settings=SessionSettings(2))
            as_dict = SessionStoreSession("s", store=store, session_settings={"limit": 1})
            await typed.add_items([user("a"), user("b"), user("c")])
            assert texts(await typed.get_items()) == ["b", "c"]
            assert texts(await typed.get_items(3)) == ["a", "b", "c"]  # explicit wins
            assert texts(await as_dict.get_items()) == ["c"]
            assert as_dict.session_settings == SessionSettings(limit=1)

    run(main())


def test_limits_reach_across_pages(target: str) -> None:
    """More items than one transcript page holds (1,000)."""

    async def main() -> None:
        async with SessionStoreSession("long", url=target) as session:
            await session.add_items([user(f"m{i}") for i in range(2100)])
            every = await session.get_items()
            assert texts(every) == [f"m{i}" for i in range(2100)]
            assert texts(await session.get_items(1500)) == [f"m{i}" for i in range(600, 2100)]

    run(main())


def test_pop_item_removes_the_most_recent(target: str) -> None:
    async def main() -> None:
        async with SessionStoreSession("pop", url=target) as session:
            assert await session.pop_item() is None
            await session.add_items([user("q"), said("a")])
            assert await session.pop_item() == said("a")
            assert await session.get_items() == [user("q")]
            assert await session.pop_item() == user("q")
            assert await session.pop_item() is None
            await session.add_items([user("again")])
            assert await session.get_items() == [user("again")]
            entry = await session.store.get(session.key)
            assert entry is not None and entry.message_count == 1

    run(main())


def test_adds_mark_the_entry_active_and_recreate_it_after_a_clear_elsewhere(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        async with (
            SessionStoreSession("active", url=target) as session,
            SessionStoreSession("active", url=target) as other,
        ):
            await session.add_items([user("one")])
            first = await session.store.get(session.key)
            assert first is not None and first.updated_at > 1
            await session.store.put(session.key, {**first.to_dict(), "updatedAt": 1})
            # Within the interval an add is the append alone: updatedAt stays.
            await session.add_items([user("two")])
            same = await session.store.get(session.key)
            assert same is not None and same.updated_at == 1
            # Another object clears the session: the next add, not due for a mark,
            # finds no entry and creates a new one rather than losing the item.
            await other.clear_session()
            await session.add_items([user("three")])
            assert await other.get_items() == [user("three")]
            again = await session.store.get(session.key)
            assert again is not None and again.session_id != first.session_id
            # Past the interval (made 0 here), an add moves updatedAt on.
            await session.store.put(session.key, {**again.to_dict(), "updatedAt": 1})
            monkeypatch.setattr(history, "ACTIVITY_INTERVAL_S", 0.0)
            await session.add_items([user("four")])
            moved = await session.store.get(session.key)
            assert moved is not None and moved.updated_at > 1

    run(main())


def test_clear_session_forgets_and_archives(target: str) -> None:
    async def main() -> None:
        async with SessionStoreSession("clear", url=target) as session:
            await session.clear_session()  # nothing yet: nothing to do
            await session.add_items([user("secret")])
            before = await session.store.get(session.key)
            await session.clear_session()
            assert await session.get_items() == []
            assert await session.store.get(session.key) is None
            archives = await session.store.transcripts.archives()
            assert before is not None
            assert [(a.name.split(".")[0], a.reason) for a in archives] == [
                (before.session_id, "deleted")
            ]
            await session.add_items([user("fresh")])
            assert await session.get_items() == [user("fresh")]
            after = await session.store.get(session.key)
            assert after is not None and after.session_id != before.session_id

    run(main())


def test_a_clear_that_loses_a_race_leaves_no_transcript_without_its_entry(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clear reads the entry; before it deletes, another clear forgets that entry and
    an add makes a new one. The first clear then forgets the new entry with its own
    transcript instead of deleting it and leaving its transcript behind."""

    async def main() -> None:
        async with (
            SessionStoreSession("race", url=target) as session,
            SessionStoreSession("race", url=target) as other,
        ):
            await session.add_items([user("old")])
            read = session.store.get_with_version
            made: list[str] = []

            async def read_then_race(key: str) -> Any:
                found = await read(key)
                monkeypatch.setattr(session.store, "get_with_version", read)  # once
                await other.clear_session()
                await other.add_items([user("new")])
                entry = await other.store.get(other.key)
                assert entry is not None
                made.append(entry.session_id)
                return found

            monkeypatch.setattr(session.store, "get_with_version", read_then_race)
            await session.clear_session()
            assert await other.store.get(other.key) is None
            assert made and made[0] not in await other.store.transcripts.session_ids()
            archived = {a.name.split(".")[0] for a in await other.store.transcripts.archives()}
            assert made[0] in archived

    run(main())


def test_messages_are_openclaw_messages(target: str) -> None:
    """Message items are counted and searchable; the rest are custom events."""

    async def main() -> None:
        async with SessionStoreSession("shape", url=target) as session:
            call: TResponseInputItem = {
                "type": "function_call",
                "call_id": "c",
                "name": "f",
                "arguments": "{}",
            }
            await session.add_items([user("rollback plan please"), call, said("Rollback ready")])
            store = session.store
            assert session.key == KEY_PREFIX + "shape"
            entry = await store.get(session.key)
            assert entry is not None and entry.message_count == 2
            events = await store.transcripts.tail(session.key)
            assert [e["type"] for e in events] == ["message", "custom", "message"]
            assert events[2]["message"] == {
                "role": "assistant",
                "content": [{"type": "text", "text": "Rollback ready"}],
            }
            assert all(ITEM_FIELD in e for e in events)
            hits = await store.transcripts.search("rollback", key=session.key)
            assert len(hits) == 2

    run(main())


def test_from_url_and_a_shared_store(target: str) -> None:
    async def main() -> None:
        async with SessionStoreSession.from_url("a", url=target) as session:
            await session.add_items([user("via url")])
        store = open_async_store(target)
        async with store:
            shared = [SessionStoreSession(name, store=store) for name in ("a", "b")]
            await shared[1].add_items([user("via store")])
            assert texts(await shared[0].get_items()) == ["via url"]
            assert texts(await shared[1].get_items()) == ["via store"]
            await shared[0].close()  # not its store: still open
            assert await store.count() == 2

    run(main())


def test_bad_arguments_are_refused(target: str) -> None:
    with pytest.raises(InvalidArgumentError, match="either url= or store="):
        SessionStoreSession("x")
    with pytest.raises(InvalidArgumentError, match="session_id"):
        SessionStoreSession("", url=target)

    async def main() -> None:
        store = open_async_store(target)
        async with store:
            with pytest.raises(InvalidArgumentError, match="either url= or store="):
                SessionStoreSession("x", url=target, store=store)
            with pytest.raises(InvalidArgumentError, match="agent_id"):
                SessionStoreSession("x", store=store, agent_id="ops")
            session = SessionStoreSession("x", store=store)
            not_json: Any = {"role": "user", "content": object()}
            with pytest.raises(InvalidArgumentError, match="JSON"):
                await session.add_items([not_json])
            assert await session.get_items() == []

    run(main())


# -- concurrent runners --------------------------------------------------------------------


WRITER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from sessionstore.integrations.openai_agents import SessionStoreSession

    async def main(url, name, count):
        async with SessionStoreSession("shared", url=url) as shared, \\
                SessionStoreSession(name, url=url) as own:
            await shared.get_items(1)  # connected: ready
            print("ready", flush=True)
            sys.stdin.readline()  # go
            for i in range(count):
                await shared.add_items([{"role": "user", "content": f"{name} {i}"}])
                await own.add_items([{"role": "user", "content": f"{name} {i}"}])

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


def test_concurrent_runners_lose_nothing(target: str, backend: str, tmp_path: Path) -> None:
    """Tasks on one store, tasks on stores of their own and, on SQLite, another process
    add to one shared session and to one session each: every item is there, in each
    writer's order, and no writer fails (no "database is locked")."""
    per_writer = 15
    process: subprocess.Popen[str] | None = None
    if backend == "sqlite":
        script = tmp_path / "writer.py"
        script.write_text(WRITER_SCRIPT)
        process = subprocess.Popen(
            [sys.executable, str(script), target, "process", str(per_writer)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline() == "ready\n"

    async def write(shared: SessionStoreSession, own: SessionStoreSession, name: str) -> None:
        for i in range(per_writer):
            await shared.add_items([user(f"{name} {i}")])
            await own.add_items([user(f"{name} {i}"), said(f"{name} {i}")])

    async def main() -> list[str]:
        store = open_async_store(target)
        async with store:
            names = ["task-a", "task-b", "task-c", "store-a", "store-b"]
            sessions = []
            for name in names:
                session_store = store if name.startswith("task") else open_async_store(target)
                shared = SessionStoreSession("shared", store=session_store)
                sessions.append((shared, SessionStoreSession(name, store=session_store)))
            if process is not None:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            try:
                await asyncio.gather(
                    *(
                        write(shared, own, name)
                        for name, (shared, own) in zip(names, sessions, strict=True)
                    )
                )
            finally:
                for name, (shared, _) in zip(names, sessions, strict=True):
                    if name.startswith("store"):
                        await shared.store.close()
            if process is not None:
                assert await asyncio.to_thread(process.wait) == 0
                names.append("process")
            shared_items = await SessionStoreSession("shared", store=store).get_items()
            for name in names:
                mine = [str(dict(item)["content"]) for item in shared_items]
                assert [t for t in mine if t.startswith(f"{name} ")] == [
                    f"{name} {i}" for i in range(per_writer)
                ]
                own = await SessionStoreSession(name, store=store).get_items()
                step = 1 if name == "process" else 2
                assert len(own) == per_writer * step
            assert len(shared_items) == per_writer * len(names)
            return names

    try:
        run(main())
    finally:
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()


# -- a real Runner ---------------------------------------------------------------------------


class CannedModel(Model):
    """A model that answers each call with the next of ``answers`` and records the input
    it was given: what the Runner sent, history from the session included."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.inputs: list[list[TResponseInputItem]] = []

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        self.inputs.append([user(input)] if isinstance(input, str) else list(input))
        text = self.answers.pop(0)
        message = ResponseOutputMessage(
            id=f"msg_{len(self.inputs)}",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[TResponseStreamEvent]:
        raise NotImplementedError("this model does not stream")


def test_a_runner_keeps_two_turns_in_the_session(target: str) -> None:
    set_tracing_disabled(True)
    model = CannedModel(["Paris.", "About 2.1 million."])
    agent = Agent(name="Geo", instructions="Answer briefly.", model=model)

    async def main() -> None:
        async with SessionStoreSession("geo", url=target) as session:
            first = await Runner.run(agent, "What is the capital of France?", session=session)
            second = await Runner.run(agent, "How many people live there?", session=session)
            assert (first.final_output, second.final_output) == ("Paris.", "About 2.1 million.")
        # the second call was sent the first turn, from the session
        assert texts(model.inputs[1])[:1] == ["What is the capital of France?"]
        async with SessionStoreSession("geo", url=target) as fresh:
            items = await fresh.get_items()
        assert [dict(item).get("role") for item in items] == ["user", "assistant"] * 2
        assert items[0] == user("What is the capital of France?")
        assert items[3]["content"][0]["text"] == "About 2.1 million."  # type: ignore[index, typeddict-item]

    run(main())


# -- import from the SDK's own sessions ----------------------------------------------------


def test_import_from_sqlite_session(target: str, tmp_path: Path) -> None:
    source = SQLiteSession("legacy", str(tmp_path / "agents.db"), session_settings={"limit": 1})
    history = [user("first"), said("one"), user("second"), said("two")]

    async def main() -> None:
        await source.add_items(history)
        # both sessions' settings.limit leave out items: the import reads them all
        async with SessionStoreSession("legacy", url=target, session_settings={"limit": 1}) as into:
            assert await import_session(source, into) == 4
            assert await import_session(source, into) == 0  # idempotent
            assert await into.get_items(limit=10) == history
            other = SessionStoreSession("other", store=into.store)
            await other.add_items([user("something else")])
            with pytest.raises(InvalidArgumentError, match="already holds other items"):
                await import_session(source, other)
        assert await source.get_items(limit=10) == history  # the source is unchanged

    try:
        run(main())
    finally:
        source.close()


def test_import_from_sqlalchemy_session(target: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'agents-sqlalchemy.db'}"
    source = SQLAlchemySession.from_url("legacy", url=url, create_tables=True)
    history = [user("hello"), said("hi")]

    async def main() -> None:
        await source.add_items(history)
        async with SessionStoreSession("legacy", url=target) as into:
            racing = await asyncio.gather(
                import_session(source, into), import_session(source, into)
            )
            assert sorted(racing)[-1] == 2  # the other one wrote nothing, or skipped all
            assert await into.get_items() == history
        await source.engine.dispose()

    run(main())
