"""Transcript events: the ``<sessionId>.jsonl`` files next to a generated store.

A :class:`Plan` says which file a session's transcript is, the span it covers and the
model that answered; :func:`render_transcript` makes the bytes of that v3 transcript: a
header, sometimes a model change, then user turns, assistant replies with usage and cost,
and tool calls followed by their results.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from sessionstore.testing.clock import DAY_MS

__all__ = ["Plan", "render_transcript"]

APIS = {
    "anthropic": "anthropic-messages",
    "openai": "openai-responses",
    "google": "google-generative-ai",
    "openrouter": "openai-completions",
}
# USD per million input / output tokens; only the order of magnitude matters.
PRICES = {"anthropic": (5.0, 25.0), "openai": (1.25, 10.0), "google": (1.25, 10.0)}
DEFAULT_PRICE = (0.27, 1.1)
USER_TEXTS = [
    "What's on my calendar today?",
    "Can you summarise the last thread in #ops?",
    "Remind me to call Ana at 6pm.",
    "Translate into German: the shipment is delayed by two days.",
    "Wie wird das Wetter morgen in Berlin?",
    "今日のタスクを教えて",
    "Draft a reply to the invoice email from Stripe.",
    "Did the nightly backup finish?",
    "Find the cheapest flight to Lisbon next Friday.",
    "What did we decide about the launch date?",
    "Résume-moi ce document en trois points.",
    "Open a Linear issue for the login bug on Android.",
]
ASSISTANT_TEXTS = [
    "Two meetings: 10:00 standup, 14:00 dentist.",
    "Done. I'll ping you at 18:00.",
    "Summary: the deploy was rolled back, the root cause is a stale cache key, "
    "and Farah is writing the post-mortem.",
    "Morgen in Berlin: 14 °C, leichter Regen am Nachmittag.",
    "The nightly backup finished at 03:12 (41.2 GB, no errors).",
    "Here is a draft:\n\n> Hi team, thanks for the reminder, payment goes out on Monday.",
    "Cheapest option: TAP, Fri 07:40 → 10:05, €89 including one bag.",
    "We agreed on 14 April, pending the security review.",
    "Voici les trois points clés : budget validé, recrutement gelé, lancement en mai.",
    "Created LIN-482 “Login fails on Android 15” and assigned it to Hiro.",
]
TOOL_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("web_search", {"query": "flights Lisbon Friday cheapest"}, "1. TAP 07:40 €89 …"),
    ("exec", {"command": "ls -lh ~/backups | tail -3"}, "-rw------- 1 me me 41G backup.tar"),
    ("read", {"path": "~/.openclaw/workspace/MEMORY.md"}, "# Memory\n- Ana prefers calls"),
    ("cron", {"action": "add", "schedule": "0 18 * * *"}, '{"ok":true,"id":"reminder"}'),
    ("linear__create_item", {"title": "Login fails on Android 15"}, '{"id":"LIN-482"}'),
    ("memory_search", {"query": "launch date decision"}, "2026-03-02: launch 14 April"),
]


@dataclass(frozen=True, slots=True)
class Plan:
    """The transcript a session gets: its file and the span and model it covers."""

    file_name: str
    session_id: str
    start_ms: int
    end_ms: int
    provider: str
    model: str


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _usage(rng: random.Random, provider: str) -> dict[str, Any]:
    price_in, price_out = PRICES.get(provider, DEFAULT_PRICE)
    tokens_in = rng.randint(800, 60_000)
    tokens_out = rng.randint(20, 2_000)
    cache_read = rng.randint(0, tokens_in)
    cost_in = round(tokens_in * price_in / 1e6, 6)
    cost_out = round(tokens_out * price_out / 1e6, 6)
    cost_read = round(cache_read * price_in / 1e7, 6)
    return {
        "input": tokens_in,
        "output": tokens_out,
        "cacheRead": cache_read,
        "cacheWrite": 0,
        "totalTokens": tokens_in + tokens_out + cache_read,
        "cost": {
            "input": cost_in,
            "output": cost_out,
            "cacheRead": cost_read,
            "cacheWrite": 0,
            "total": round(cost_in + cost_out + cost_read, 6),
        },
    }


def render_transcript(rng: random.Random, plan: Plan, count: int, cwd: str) -> bytes:
    """A v3 transcript: header, optional model bookkeeping, then ``count`` messages
    (user turns, assistant replies, sometimes a tool call and its result)."""
    lo = max(plan.start_ms + 1_000, plan.end_ms - 2 * DAY_MS)
    times = sorted(rng.randint(min(lo, plan.end_ms), plan.end_ms) for _ in range(count))
    lines: list[dict[str, Any]] = [
        {
            "type": "session",
            "version": 3,
            "id": plan.session_id,
            "timestamp": _iso(plan.start_ms),
            "cwd": cwd,
        }
    ]
    parent: str | None = None

    def add(entry_type: str, timestamp: int, **fields: Any) -> None:
        nonlocal parent
        entry_id = f"{rng.getrandbits(32):08x}"
        lines.append(
            {
                "type": entry_type,
                "id": entry_id,
                "parentId": parent,
                "timestamp": _iso(timestamp),
                **fields,
            }
        )
        parent = entry_id

    if rng.random() < 0.3:
        add("model_change", plan.start_ms, provider=plan.provider, modelId=plan.model)
    api = APIS.get(plan.provider, "openai-completions")
    previous = "assistant"
    pending_tool: tuple[str, dict[str, Any], str] | None = None
    call_id = ""
    for index, ms in enumerate(times):
        message: dict[str, Any]
        if pending_tool is not None:
            name, _, result = pending_tool
            message = {
                "role": "toolResult",
                "toolCallId": call_id,
                "toolName": name,
                "content": [{"type": "text", "text": result}],
                "isError": False,
                "timestamp": ms,
            }
            pending_tool, previous = None, "toolResult"
        elif previous == "assistant":
            message = {
                "role": "user",
                "content": [{"type": "text", "text": rng.choice(USER_TEXTS)}],
                "timestamp": ms,
            }
            previous = "user"
        else:
            content: list[dict[str, Any]] = []
            if plan.provider == "anthropic" and rng.random() < 0.3:
                content.append({"type": "thinking", "thinking": "Checking what was asked."})
            # A tool call needs room for its result and a final reply.
            if previous == "user" and index + 2 < count and rng.random() < 0.25:
                pending_tool = rng.choice(TOOL_CALLS)
                call_id = f"call_{rng.getrandbits(64):016x}"
                content.append(
                    {
                        "type": "toolCall",
                        "id": call_id,
                        "name": pending_tool[0],
                        "arguments": pending_tool[1],
                    }
                )
                stop = "toolUse"
            else:
                content.append({"type": "text", "text": rng.choice(ASSISTANT_TEXTS)})
                stop = "stop"
            message = {
                "role": "assistant",
                "content": content,
                "api": api,
                "provider": plan.provider,
                "model": plan.model,
                "usage": _usage(rng, plan.provider),
                "stopReason": stop,
                "timestamp": ms,
            }
            previous = "assistant" if pending_tool is None else "toolCall"
        add("message", ms, message=message)
    # JSON.stringify(entry) + "\n" per line: compact, raw UTF-8.
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)
