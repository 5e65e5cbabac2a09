"""``sessionstore.integrations.pydantic_ai``: message histories on every kind of store
(the JSON twin with its files tier, a SQLite file, PostgreSQL and MySQL/MariaDB with the
SQL tier), driven by real ``Agent`` runs on pydantic-ai's ``FunctionModel`` (the docs'
example uses its ``TestModel``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from sessionstore import InvalidArgumentError, InvalidEntryError, open_async_store
from sessionstore.integrations.pydantic_ai import MESSAGE_FIELD, MessageHistory, starts_a_turn
from tests.integrations.conftest import run

T = TypeVar("T")

KEY = "pydantic-ai:support-42"


def weather_agent() -> Agent[None, str]:
    """An agent whose model calls its tool once per user prompt, then answers from the
    tool's result (a FunctionModel: a tool exchange in every turn)."""

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        parts = messages[-1].parts
        if any(isinstance(part, UserPromptPart) for part in parts):
            return ModelResponse(parts=[ToolCallPart("forecast", {"city": "Paris"})])
        returned = [p.content for p in parts if isinstance(p, ToolReturnPart)]
        return ModelResponse(parts=[TextPart(f"It is {returned[0]}.")])

    agent = Agent(FunctionModel(reply), instructions="Be brief.")

    @agent.tool_plain
    def forecast(city: str) -> str:
        return f"sunny in {city}"

    return agent


def prompts(messages: list[ModelMessage]) -> list[Any]:
    return [
        part.content
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, UserPromptPart)
    ]


def test_two_turns_with_message_history(target: str) -> None:
    agent = weather_agent()

    async def main() -> None:
        async with MessageHistory(url=target) as history:
            first = await agent.run("Weather in Paris?", message_history=await history.load(KEY))
            assert (
                await history.save(KEY, first.new_messages()) == 4
            )  # prompt, call, return, answer
            loaded = await history.load(KEY)
            assert loaded == first.all_messages()
            second = await agent.run("And in Oslo?", message_history=loaded)
            await history.save(KEY, second.new_messages())
        async with MessageHistory(url=target) as fresh:
            again = await fresh.load(KEY)
        assert again == second.all_messages()
        assert prompts(again) == ["Weather in Paris?", "And in Oslo?"]

    run(main())


def test_the_model_sees_the_saved_history(target: str) -> None:
    seen: list[list[Any]] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(prompts(messages))
        return ModelResponse(parts=[TextPart(f"answer {len(seen)}")])

    agent = Agent(FunctionModel(reply))

    async def main() -> None:
        async with MessageHistory(url=target) as history:
            for question in ("first question", "second question"):
                result = await agent.run(question, message_history=await history.load(KEY))
                await history.save(KEY, result.new_messages())
            assert [r.output for r in [result]] == ["answer 2"]

    run(main())
    assert seen == [["first question"], ["first question", "second question"]]


def test_a_bounded_load_starts_a_turn(target: str) -> None:
    """``last=N`` gives the longest suffix of at most N messages that starts with a user
    prompt: never a tool return without its call."""
    agent = weather_agent()

    async def main() -> None:
        async with MessageHistory(url=target) as history:
            for city in ("Paris", "Oslo", "Lima"):
                result = await agent.run(
                    f"Weather in {city}?", message_history=await history.load(KEY)
                )
                await history.save(KEY, result.new_messages())
            every = await history.load(KEY)
            assert len(every) == 12
            for last in range(len(every) + 2):
                window = await history.load(KEY, last=last)
                turn_starts = [
                    i
                    for i in range(max(0, len(every) - last), len(every))
                    if starts_a_turn(every[i])
                ]
                expected = every[turn_starts[0] :] if turn_starts else []
                assert window == expected, last
                assert len(window) <= last
                assert not window or starts_a_turn(window[0])
            # a window of the last turn is a valid history for the next run
            window = await history.load(KEY, last=5)
            assert prompts(window) == ["Weather in Lima?"]
            result = await agent.run("And in Rome?", message_history=window)
            assert prompts(result.all_messages()) == ["Weather in Lima?", "And in Rome?"]

    run(main())


def test_messages_are_openclaw_messages(target: str) -> None:
    agent = weather_agent()

    async def main() -> None:
        async with MessageHistory(url=target) as history:
            result = await agent.run("Weather in Paris?")
            await history.save(KEY, result.new_messages())
            store = history.store
            events = await store.transcripts.tail(KEY)
            roles = [event["message"]["role"] for event in events]
            assert roles == ["user", "assistant", "toolResult", "assistant"]
            assert events[0]["message"]["content"] == "Weather in Paris?"
            assert all(MESSAGE_FIELD in event for event in events)
            entry = await store.get(KEY)
            usage = result.usage
            assert entry is not None and entry.message_count == 4
            assert (entry.input_tokens, entry.output_tokens) == (
                usage.input_tokens,
                usage.output_tokens,
            )
            hits = await store.transcripts.search("Paris", key=KEY)
            assert len(hits) >= 1

    run(main())


def test_saving_a_message_twice_writes_it_once(target: str) -> None:
    agent = weather_agent()

    async def main() -> None:
        async with MessageHistory(url=target) as history:
            first = await agent.run("Weather in Paris?")
            assert await history.save(KEY, first.new_messages()) == 4
            assert await history.save(KEY, first.new_messages()) == 0  # a retried save
            second = await agent.run("And in Oslo?", message_history=await history.load(KEY))
            # all_messages() of a run on the loaded history: only the run's new ones
            assert await history.save(KEY, second.all_messages()) == 4
            assert await history.load(KEY) == second.all_messages()

    run(main())


def test_clear_forgets_the_conversation(target: str) -> None:
    async def main() -> None:
        async with MessageHistory(url=target) as history:
            await history.clear(KEY)  # nothing yet: nothing to do
            await history.save(KEY, [ModelRequest.user_text_prompt("forget me")])
            await history.clear(KEY)
            assert await history.load(KEY) == []
            assert await history.store.get(KEY) is None
            assert [a.reason for a in await history.store.transcripts.archives()] == ["deleted"]

    run(main())


def test_bad_arguments_are_refused(target: str) -> None:
    with pytest.raises(InvalidArgumentError, match="either url= or store="):
        MessageHistory()

    async def main() -> None:
        store = open_async_store(target)
        async with store:
            history = MessageHistory(store=store)
            for last in (-1, 1.5, True):
                with pytest.raises(InvalidArgumentError, match="last"):
                    await history.load(KEY, last=last)  # type: ignore[arg-type]
            with pytest.raises(InvalidEntryError, match="empty"):
                await history.save(" ", [ModelRequest.user_text_prompt("x")])
            assert await history.load("pydantic-ai:unknown", last=5) == []
            await history.close()  # not its store: still open
            assert await store.count() == 0

    run(main())
