"""The awkward cases an importer has to survive, planted with ``messy=True``.

:func:`plant_messy` makes an agent's planted entries: alias keys next to their lowercase
twin, legacy field names, ``resolvedSkills``, string thread ids, non-Latin text, ~200 KB
entries, unknown and late fields, an unsafe ``sessionId``. :func:`legacy_sessions` makes
the entries of an old single-agent top-level store. Where they go on disk, with the
orphan transcripts and the truncated store, is decided in :mod:`sessionstore.testing.layout`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from sessionstore.testing.clock import DAY_MS, HISTORY_DAYS, HOUR_MS
from sessionstore.testing.entries import (
    Agent,
    Route,
    Session,
    grow_report,
    make_session,
    random_uuid,
    resolved_skills,
    snowflake,
    telegram_topic,
)

__all__ = ["Planted", "legacy_sessions", "plant_messy"]

UNICODE_NAMES = [
    "👨‍👩‍👧‍👦 Family 🏡",
    "中文客服群 · 技术支持",
    "צוות פיתוח (Dev) ‏",
    "فريق الدعم 🌙",
    "\U0001d544\U0001d552\U0001d565\U0001d559 club ∑",  # mathematical letters, astral plane
    "école — e\u0301te\u0301",
    "ﾊﾝｶｸ ｶﾀｶﾅ ﾁｬｯﾄ",
    "한국어 스터디 🇰🇷",
]
# A few fields of every JSON type that OpenClaw does not know yet; JavaScript puts
# integer-like object keys first, in ascending order.
UNKNOWN_FIELDS: dict[str, Any] = {
    "futureObject": {
        "2": "two",
        "10": "ten",
        "nested": {"deeper": {"list": [1, -2.5, "three", None, True, False, [], {}]}},
        "emptyObject": {},
        "emptyArray": [],
    },
    "futureArray": [[1, 2], [0.125, None], {"k": "v"}, "", 0],
    "futureNull": None,
    "futureFloat": 0.875,
    "futureNegativeFloat": -1234.5,
    "futureTrue": True,
    "futureFalse": False,
    "futureZero": 0,
    "futureBigInt": 2**63 - 1,
    "futureNegativeBigInt": -(2**53 + 1),
    "futureString": "",
}


def _rename(entry: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``entry`` with field ``old`` renamed to ``new`` in place of the original."""
    return {(new if k == old else k): v for k, v in entry.items()}


def _legacy_names(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as written before ``channel``/``lastChannel`` and ``deliveryContext``."""
    old = _rename(_rename(entry, "channel", "provider"), "lastChannel", "lastProvider")
    del old["deliveryContext"]
    return old


@dataclass(slots=True)
class Planted:
    """An agent's planted entries, in groups that stay together, and the keys to report."""

    groups: list[list[Session]] = field(default_factory=list)
    alias_keys: list[str] = field(default_factory=list)
    invalid_keys: list[str] = field(default_factory=list)


def plant_messy(rng: random.Random, agent: Agent, seed: int) -> Planted:
    """The awkward entries of one agent, each group to be placed at a random position."""
    a, now = agent.agent_id, agent.now_ms
    current, _ = agent.snapshots
    planted = Planted()

    def webchat(peer: str, **kwargs: Any) -> Route:
        return Route(
            f"agent:{a}:webchat:direct:{peer}",
            "webchat",
            "direct",
            f"webchat:{peer}",
            "default",
            **kwargs,
        )

    # Alias keys: trim + lowercase maps them onto a twin with another updatedAt.
    twins = [
        (
            webchat("mixed-user"),
            f"Agent:{a.capitalize()}:WebChat:DM:MiXeD-User",
            f"agent:{a}:webchat:dm:mixed-user",
        ),
        (
            Route(
                f"agent:{a}:telegram:direct:555000123",
                "telegram",
                "direct",
                "telegram:555000123",
                "default",
                display_name="Hiro (Telegram)",
            ),
            f"AGENT:{a.upper()}:TELEGRAM:DIRECT:555000123",
            None,
        ),
        (
            Route(
                f"agent:{a}:slack:channel:c0messy0001",
                "slack",
                "channel",
                "channel:C0MESSY0001",
                "workspace",
                label="Backlog grooming",
            ),
            f"  agent:{a}:slack:channel:c0messy0001 ",
            None,
        ),
    ]
    for index, (route, alias, twin_key) in enumerate(twins):
        newer = now - rng.randint(HOUR_MS, 5 * DAY_MS)
        older = newer - rng.randint(HOUR_MS, 5 * DAY_MS)
        alias_newer = index != 1  # the freshest of the two wins, whichever key it has
        twin_route = replace(route, key=twin_key or route.key)
        alias_route = replace(route, key=alias)
        pair = [
            make_session(rng, agent, twin_route, None, updated_at=older if alias_newer else newer),
            make_session(rng, agent, alias_route, None, updated_at=newer if alias_newer else older),
        ]
        planted.groups.append(pair)
        planted.alias_keys.append(alias)

    # Legacy field names from early 2026: provider, lastProvider, room.
    old = make_session(
        rng,
        agent,
        Route(
            f"agent:{a}:telegram:dm:424242",
            "telegram",
            "direct",
            "telegram:424242",
            "default",
            display_name="Ines",
        ),
        None,
    )
    old.entry = _legacy_names(old.entry)
    room = make_session(
        rng,
        agent,
        Route(
            f"agent:{a}:discord:channel:{snowflake(rng)}",
            "discord",
            "channel",
            "channel:general",
            "default",
            display_name="discord:#general",
        ),
        None,
    )
    room.entry["room"] = "#general"
    both = make_session(rng, agent, webchat("legacy-and-new"), None)
    both.entry["provider"] = both.entry["channel"]
    both.entry["lastProvider"] = both.entry["lastChannel"]
    planted.groups += [[old], [room], [both]]

    # resolvedSkills: full skill bodies that May's loader strips (~90 KB per entry).
    resolved = {**current, "resolvedSkills": resolved_skills(seed, current)}
    for peer in ("resolved-skills-1", "resolved-skills-2"):
        planted.groups.append([make_session(rng, agent, webchat(peer), resolved)])

    # Thread ids: a numeric-looking string and a string topic that needs URL-encoding.
    group = -1_001_234_567_890
    for topic in ("77", "topic/a+b"):
        planted.groups.append(
            [make_session(rng, agent, telegram_topic(a, group, topic, "Strings"), current)]
        )

    # Non-Latin text: emoji with joiners, CJK, right-to-left, combining marks.
    for index, name in enumerate(UNICODE_NAMES):
        route = webchat(
            "访客-7" if index == 1 else f"unicode-{index}", label=name, display_name=name
        )
        planted.groups.append([make_session(rng, agent, route, None)])

    # ~200 KB entries: a systemPromptReport with a very large tool set.
    for peer in ("big-report-1", "big-report-2"):
        big = make_session(rng, agent, webchat(peer), current)
        grow_report(rng, big.entry, 185_000)
        planted.groups.append([big])

    # Fields OpenClaw adds later or never had; all must round-trip with their JSON types.
    unknown = make_session(rng, agent, webchat("unknown-fields"), None)
    unknown.entry.update(UNKNOWN_FIELDS)
    late = make_session(rng, agent, webchat("late-fields"), current)
    late.entry.update(
        {
            "archivedAt": now - DAY_MS,
            "pinnedAt": now - 3 * DAY_MS,
            "lastReadAt": now - HOUR_MS,
            "category": "personal",
            "status": "idle",
            "acp": {
                "backend": "acpx",
                "agent": "codex",
                "runtimeSessionName": f"acp-{random_uuid(rng)[:8]}",
                "mode": "persistent",
                "state": "idle",
                "lastActivityAt": now - HOUR_MS,
            },
            "pluginExtensions": {"memory-lancedb": {"recalls": 12, "lastScore": 0.5}},
        }
    )
    planted.groups += [[unknown], [late]]

    # An unsafe sessionId OpenClaw rejects; no transcript or sessionFile for it.
    unsafe_key = f"agent:{a}:webchat:direct:path-traversal"
    planted.groups.append(
        [
            Session(
                unsafe_key,
                {
                    "sessionId": "../etc/passwd",
                    "updatedAt": now - 2 * HOUR_MS,
                    "chatType": "direct",
                    "channel": "webchat",
                    "label": "unsafe session id",
                },
                None,
            )
        ]
    )
    planted.invalid_keys.append(unsafe_key)
    return planted


def legacy_sessions(rng: random.Random, agent: Agent) -> list[Session]:
    """A single-agent store from early 2026: lean entries, legacy names, old ``:dm:`` keys."""
    routes = [
        Route("global", "webchat", "direct", "webchat:owner", "default", label="Global"),
        Route(agent.main_key, "webchat", "direct", "webchat:owner", "default", label="Main"),
        Route(
            "agent:main:telegram:dm:987654321",
            "telegram",
            "direct",
            "telegram:987654321",
            "default",
            display_name="Björn (Telegram)",
        ),
        Route(
            "agent:main:whatsapp:direct:+4915112345678",
            "whatsapp",
            "direct",
            "+4915112345678",
            "default",
            display_name="Giulia",
        ),
    ]
    sessions = []
    for route in routes:
        updated_at = agent.now_ms - rng.randint((HISTORY_DAYS + 1) * DAY_MS, 120 * DAY_MS)
        session = make_session(rng, agent, route, None, updated_at=updated_at)
        session.entry = _legacy_names(session.entry)
        sessions.append(session)
    return sessions
