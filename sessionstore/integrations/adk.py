"""Google ADK sessions over sessionstore: :class:`SessionStoreSessionService`, a
``google.adk.sessions.BaseSessionService`` on any sessionstore target, and
:func:`import_adk_database`, which copies an ADK ``DatabaseSessionService`` database
into it.

The mapping (one sessionstore agent per service, ``agent_id`` option):

- an ADK session is the entry ``adk:<app>:<user>:<session>`` (``%`` and ``:`` of each
  part escaped as ``%25`` and ``%3A``, so keys are unambiguous and a key prefix lists
  one app or one user); its ADK fields are the entry's ``adk`` field: ``appName``,
  ``userId``, ``id``, ``state``, ``createTime``, ``lastUpdateTime``, ``revision``,
  ``lastEventId`` and ``pendingEvent``;
- app state is the entry ``adk-app:<app>``, user state ``adk-user:<app>:<user>``;
- events are the session's transcript: one transcript event per ADK event, its ``id``
  the event's id, the whole event in ``adkEvent`` (its float timestamp exact), and a
  ``message`` with the text of its content when it has text, so that message counts and
  full-text search work as for any session.

``append_event`` of an event that changes only session state is one unit where the
transcripts share the entries' database (the ``sql`` tier): the event and the session's
next revision in one transaction (``transcripts.append_and_update``), the stale check
made under the entry's lock. Otherwise it is two steps: a compare-and-set of the
session, user and app entries in one ``put_many`` (on the files tier, for the session
alone, a locked ``update``) that also records the event as the session's
``pendingEvent``; the event then goes to the transcript. Whoever next reads or writes
the session appends a pending event the transcript lacks first (appends are idempotent
by event id), so a writer that stops between the two steps loses nothing, and no other
writer can slip an event in between: the history stays one sequence.
"""

from __future__ import annotations

import asyncio
import copy
import math
import os
import random
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack

from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.platform import time as platform_time
from google.adk.sessions import _session_util
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.adk.sessions.session import Session
from google.adk.sessions.state import State
from sqlalchemy import select
from sqlalchemy.engine import make_url

from sessionstore.asyncstore import AsyncSessionStore
from sessionstore.contract import MAX_PAGE_SIZE
from sessionstore.entry import SessionEntry
from sessionstore.errors import SessionNotFoundError as MissingEntryError
from sessionstore.errors import SessionStoreError, StaleEntryError
from sessionstore.events import iso_ms
from sessionstore.integrations._history import StoreOwner, forget, last_events, open_owned

__all__ = ["AdkImportReport", "SessionStoreSessionService", "import_adk_database", "session_key"]

_STALE = (
    "The session has been modified in storage since it was loaded. "
    "Please reload the session before appending more events."
)
#: Rounds of a compare-and-set that lost to a writer of another session's app or user
#: state (or to a roll-forward) before a write gives up.
_ATTEMPTS = 32
#: Sessions whose last appended event a service remembers (see ``_may_be_pending``).
_COMPLETED_KEPT = 10_000


async def _backoff(attempt: int) -> None:
    """Wait a random while, longer after each lost round, so that writers of the same
    app or user state stop colliding (as the core's own retries do)."""
    await asyncio.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 7)))


class StoreOptions(TypedDict, total=False):
    """The options of :func:`sessionstore.open_async_store` the service passes on."""

    agent_id: str
    auto_upgrade: bool
    lock_timeout: float | None
    engine_options: Mapping[str, Any] | None
    max_entry_bytes: int
    read_only: bool
    transcripts: Literal["files", "sql"] | None
    transcripts_dir: str | os.PathLike[str] | None


def _part(value: str) -> str:
    return value.replace("%", "%25").replace(":", "%3A")


def session_key(app_name: str, user_id: str, session_id: str) -> str:
    """The entry key of an ADK session.

    >>> session_key("my:app", "u%1", "s")
    'adk:my%3Aapp:u%251:s'
    """
    return f"adk:{_part(app_name)}:{_part(user_id)}:{_part(session_id)}"


def _app_key(app_name: str) -> str:
    return f"adk-app:{_part(app_name)}"


def _user_key(app_name: str, user_id: str) -> str:
    return f"adk-user:{_part(app_name)}:{_part(user_id)}"


def _ms(seconds: float) -> int:
    """Epoch seconds as the entry's ``updatedAt`` (epoch ms, never negative)."""
    return max(0, math.floor(seconds * 1000))


def _adk(entry: SessionEntry | None) -> dict[str, Any]:
    """The ``adk`` field of an entry (a copy: it is changed and written back)."""
    extra = entry.model_extra if entry is not None else None
    value = (extra or {}).get("adk")
    return copy.deepcopy(value) if isinstance(value, dict) else {}


def _state_entry(entry: SessionEntry | None, fields: dict[str, Any]) -> dict[str, Any]:
    """An app or user state entry with ``fields`` (its ``state`` included), updated
    now (so that a cleanup by age sees it as alive as the sessions writing it)."""
    session_id = entry.session_id if entry is not None else uuid.uuid4().hex
    return {"sessionId": session_id, "updatedAt": _ms(platform_time.get_time()), "adk": fields}


def _merge(app: dict[str, Any], user: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    """ADK's merged state: the session's, then ``app:`` and ``user:`` keys."""
    merged = copy.deepcopy(session)
    merged.update({State.APP_PREFIX + k: v for k, v in app.items()})
    merged.update({State.USER_PREFIX + k: v for k, v in user.items()})
    return merged


def _transcript_event(event: Event) -> dict[str, Any]:
    """The transcript event of an ADK event: a ``message`` when it has text."""
    data = event.model_dump(exclude_none=True, mode="json")
    ms = _ms(event.timestamp)
    out: dict[str, Any] = {"type": "custom", "id": event.id, "timestamp": iso_ms(ms)}
    content = event.content
    texts = [p.text for p in (content.parts or []) if p.text and not p.thought] if content else []
    if content is not None and texts:
        role = "assistant" if content.role == "model" else "user"
        message: dict[str, Any] = {
            "role": role,
            "content": [{"type": "text", "text": "\n".join(texts)}],
            "timestamp": ms,
        }
        usage = event.usage_metadata
        if role == "assistant" and usage is not None:
            message["usage"] = {
                "input": usage.prompt_token_count or 0,
                "output": usage.candidates_token_count or 0,
                "totalTokens": usage.total_token_count or 0,
            }
        out["type"] = "message"
        out["message"] = message
    else:
        out["customType"] = "adk-event"
    out["adkEvent"] = data
    return out


def _event_of(transcript_event: Mapping[str, Any]) -> Event | None:
    data = transcript_event.get("adkEvent")
    return Event.model_validate(data) if isinstance(data, dict) else None


def _revised(
    entry: SessionEntry,
    adk: dict[str, Any],
    event: Event,
    pending: dict[str, Any] | None,
    deltas: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The session's entry once ``event`` is appended, its ``adk`` fields ``adk`` (a
    copy, changed here): the next revision, with the session's part of the state
    ``deltas``, recording the event as ``pending`` unless it goes into the transcript
    in the same unit (``None``)."""
    adk["state"].update(deltas["session"])
    adk.update(lastUpdateTime=event.timestamp, revision=adk.get("revision", 0) + 1)
    adk.update(lastEventId=event.id)
    if pending is None:
        adk.pop("pendingEvent", None)
    else:
        adk["pendingEvent"] = pending
    return entry.to_dict() | {"updatedAt": _ms(event.timestamp), "adk": adk}


class _ReadFirst(Exception):  # noqa: N818 - not an error: a change of plan
    """Raised out of the locked update of a session's entry when the append must read
    its transcript first (a pending event, or an event id that is the last one's)."""


def _marker(adk: Mapping[str, Any]) -> str:
    return f"sessionstore:{adk.get('revision', 0)}"


class SessionStoreSessionService(BaseSessionService, StoreOwner):
    """ADK sessions, state and events in a sessionstore store.

    ``url`` is any target of :func:`sessionstore.open_async_store` (a SQLite file,
    ``sessions.json``, a PostgreSQL or MySQL URL), opened with ``options``; the schema is
    created or upgraded on open (``auto_upgrade`` defaults to ``True``). Or pass
    ``store=``, an open :class:`~sessionstore.AsyncSessionStore`, which the service uses
    and does not close.

    >>> import asyncio
    >>> async def main():
    ...     async with SessionStoreSessionService("sqlite://") as service:
    ...         s = await service.create_session(app_name="app", user_id="u", state={"k": 1})
    ...         again = await service.get_session(app_name="app", user_id="u", session_id=s.id)
    ...         return again.state
    >>> asyncio.run(main())
    {'k': 1}
    """

    def __init__(
        self,
        url: str | Path | None = None,
        *,
        store: AsyncSessionStore | None = None,
        **options: Unpack[StoreOptions],
    ) -> None:
        self.store, self._owned = open_owned(url, store, dict(options))
        # key -> the id of the last event this service appended to its transcript
        self._completed: OrderedDict[str, str] = OrderedDict()

    # -- reading ---------------------------------------------------------------------

    async def _states(
        self, app_name: str, user_id: str
    ) -> tuple[tuple[SessionEntry | None, int], tuple[SessionEntry | None, int]]:
        """The app and user state entries with their versions (``(None, 0)``: absent),
        in one read."""
        app_key, user_key = _app_key(app_name), _user_key(app_name, user_id)
        found = await self.store.get_many_with_versions([app_key, user_key])
        return found.get(app_key, (None, 0)), found.get(user_key, (None, 0))

    async def _settle(self, key: str, adk: Mapping[str, Any], newest: str | None) -> bool:
        """Append the session's pending event if the transcript lacks it (``newest``:
        the id of its last event). Returns whether it had to."""
        pending = adk.get("pendingEvent")
        if not isinstance(pending, dict) or pending.get("id") == newest:
            return False
        await self.store.transcripts.append(key, [pending])
        return True

    async def _session_id(self, app_name: str, user_id: str, session_id: str) -> str:
        """The id a caller's ``session_id`` names: surrounding whitespace is not part of
        it (as in ADK's in-memory and SQLite services), unless a session is stored
        under the padded id itself (one imported from ADK's database service, which
        keeps ids verbatim)."""
        trimmed = session_id.strip()
        if trimmed == session_id:
            return session_id
        padded = await self.store.get(session_key(app_name, user_id, session_id))
        return session_id if padded is not None else trimmed

    async def _newest_id(self, key: str) -> str | None:
        last = await self.store.transcripts.tail(key, limit=1)
        return str(last[-1]["id"]) if last else None

    async def _events(self, key: str, config: GetSessionConfig | None) -> list[dict[str, Any]]:
        """The transcript events ``config`` asks for, oldest first, read in pages of the
        transcript and never more than the result needs (after ``_settle``)."""
        limit = config.num_recent_events if config else None
        after = config.after_timestamp if config else None
        if after is None:
            return await last_events(self.store, key, "adkEvent", limit)
        newest_first: list[dict[str, Any]] = []
        before: str | None = None
        while limit is None or len(newest_first) < limit:
            size = MAX_PAGE_SIZE if limit is None else min(MAX_PAGE_SIZE, limit - len(newest_first))
            page = await self.store.transcripts.page(key, before=before, limit=size)
            for item in page.items:
                event = item.get("adkEvent")
                stamp = event.get("timestamp") if isinstance(event, dict) else None
                if after is not None and isinstance(stamp, int | float) and stamp < after:
                    return newest_first[::-1]
                newest_first.append(item)
            if page.next_cursor is None:
                break
            before = page.next_cursor
        return newest_first[::-1]

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        session_id = await self._session_id(app_name, user_id, session_id)
        key = session_key(app_name, user_id, session_id)
        app_key, user_key = _app_key(app_name), _user_key(app_name, user_id)
        for _ in range(2):  # a second read only after completing a pending event
            found = await self.store.get_many([key, app_key, user_key])
            entry, app, user = found.get(key), found.get(app_key), found.get(user_key)
            if entry is None:
                return None
            adk = _adk(entry)
            try:
                if config is not None and config.num_recent_events == 0:
                    items: list[dict[str, Any]] = []
                else:
                    items = await self._events(key, config)
                if not adk.get("pendingEvent"):
                    break
                # every read above ends with the newest ADK event, the pending one once
                # it is in the transcript
                newest = str(items[-1]["id"]) if items else await self._newest_id(key)
                if not await self._settle(key, adk, newest):
                    break
            except MissingEntryError:
                return None  # deleted while it was being read
        events = [event for item in items if (event := _event_of(item)) is not None]
        session = Session(
            app_name=app_name,
            user_id=user_id,
            id=session_id,
            state=_merge(_adk(app).get("state", {}), _adk(user).get("state", {}), adk["state"]),
            events=events,
            last_update_time=adk["lastUpdateTime"],
        )
        session._storage_update_marker = _marker(adk)
        return session

    async def _entries(self, prefix: str) -> list[SessionEntry]:
        """The entries whose keys start with ``prefix``: a page of keys at a time from
        the database, then the page's entries in one read (listings carry only the
        index columns)."""
        entries: list[SessionEntry] = []
        cursor: str | None = None
        while True:
            page = await self.store.list(
                key_prefix=prefix, order="asc", cursor=cursor, limit=MAX_PAGE_SIZE
            )
            found = await self.store.get_many(item.key for item in page.items)
            entries += found.values()  # without the entries deleted since
            if page.next_cursor is None:
                return entries
            cursor = page.next_cursor

    async def _users(self, app_name: str, user_id: str | None) -> list[SessionEntry]:
        """The user state entries of one user, or of every user of the app."""
        if user_id is None:
            return await self._entries(f"adk-user:{_part(app_name)}:")
        entry = await self.store.get(_user_key(app_name, user_id))
        return [] if entry is None else [entry]

    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        """The sessions of an app (of one user), oldest update first, each with its
        merged state and no events, as ADK's services list them."""
        prefix = f"adk:{_part(app_name)}:" + ("" if user_id is None else f"{_part(user_id)}:")
        sessions, app, user_entries = await asyncio.gather(
            self._entries(prefix),
            self.store.get(_app_key(app_name)),
            self._users(app_name, user_id),
        )
        app_state = _adk(app).get("state", {})
        user_states = {
            (fields := _adk(entry)).get("userId"): fields.get("state", {}) for entry in user_entries
        }
        found = []
        for entry in sessions:
            adk = _adk(entry)
            user_state = user_states.get(adk["userId"], {})
            found.append(
                Session(
                    app_name=app_name,
                    user_id=adk["userId"],
                    id=adk["id"],
                    state=_merge(app_state, user_state, adk["state"]),
                    last_update_time=adk["lastUpdateTime"],
                )
            )
        found.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=found)

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        return dict(_adk(await self.store.get(_user_key(app_name, user_id))).get("state", {}))

    # -- writing ---------------------------------------------------------------------

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        if session_id:
            session_id = await self._session_id(app_name, user_id, session_id)
        session_id = session_id or str(uuid.uuid4())  # a blank id is no id
        key = session_key(app_name, user_id, session_id)
        deltas = _session_util.extract_json_safe_state_delta(state or {})
        now = platform_time.get_time()
        adk: dict[str, Any] = {
            "appName": app_name,
            "userId": user_id,
            "id": session_id,
            "state": deltas["session"],
            "createTime": now,
            "lastUpdateTime": now,
            "revision": 1,
        }
        entry = {"sessionId": str(uuid.uuid4()), "updatedAt": _ms(now), "adk": adk}
        for attempt in range(_ATTEMPTS):
            (app, app_version), (user, user_version) = await self._states(app_name, user_id)
            app_fields = _adk(app) or {"appName": app_name, "state": {}}
            user_fields = _adk(user) or {"appName": app_name, "userId": user_id, "state": {}}
            app_fields["state"].update(deltas["app"])
            user_fields["state"].update(deltas["user"])
            items: list[tuple[str, Mapping[str, Any]]] = [(key, entry)]
            expected = {key: 0}
            # app and user state are written only when the initial state sets them, so
            # that creating sessions of one app never contends on its state entry
            for scope, state_key, current, fields, current_version in (
                ("app", _app_key(app_name), app, app_fields, app_version),
                ("user", _user_key(app_name, user_id), user, user_fields, user_version),
            ):
                if deltas[scope]:
                    items.append((state_key, _state_entry(current, fields)))
                    expected[state_key] = current_version
            try:
                await self.store.put_many(items, expected_versions=expected)
            except StaleEntryError as exc:
                if exc.key == key:
                    raise AlreadyExistsError(
                        f"Session with id {session_id} already exists."
                    ) from exc
                await _backoff(attempt)  # the app's or user's state moved: merge again
                continue
            session = Session(
                app_name=app_name,
                user_id=user_id,
                id=session_id,
                state=_merge(app_fields["state"], user_fields["state"], adk["state"]),
                last_update_time=now,
            )
            session._storage_update_marker = _marker(adk)
            return session
        raise SessionStoreError(f"create_session lost {_ATTEMPTS} races for {key!r}")

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Remove the session and its events; nothing if it does not exist."""
        session_id = await self._session_id(app_name, user_id, session_id)
        name = await forget(self.store, session_key(app_name, user_id, session_id))
        if name is not None:
            await self.store.transcripts.remove_archive(name)

    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        deltas = _session_util.extract_json_safe_state_delta(event.actions.state_delta or {})
        key = session_key(session.app_name, session.user_id, session.id)
        app_key, user_key = _app_key(session.app_name), _user_key(session.app_name, session.user_id)
        pending = _transcript_event(event)
        # only the state entries this event changes are read and written
        scoped = (("app", app_key), ("user", user_key))
        scopes = [(scope, state_key) for scope, state_key in scoped if deltas[scope]]
        if not scopes:
            # The common case, the session's entry alone: on the sql tier the entry and
            # the event are written in one transaction; elsewhere the entry is changed
            # under its lock, recording the event as pending, and the event follows.
            # Either way the transcript may have to be read first (below).
            one_unit = self.store.transcripts.appends_and_updates
            revised: list[dict[str, Any]] = []

            def revise(entry: SessionEntry | None) -> SessionEntry:
                if entry is None:
                    raise SessionNotFoundError(f"Session {session.id} not found.")
                adk = _adk(entry)
                if event.id == adk.get("lastEventId") or self._may_be_pending(key, adk):
                    raise _ReadFirst
                self._check_fresh(session, adk)
                changed = _revised(entry, adk, event, None if one_unit else pending, deltas)
                revised[:] = [adk]
                return SessionEntry.from_dict(changed)

            try:
                if one_unit:
                    await self.store.transcripts.append_and_update(key, [pending], revise)
                else:
                    await self.store.update(key, revise)
            except _ReadFirst:
                pass
            except MissingEntryError:
                raise SessionNotFoundError(f"Session {session.id} not found.") from None
            else:
                return await self._appended(
                    session, event, key, None if one_unit else pending, revised[0]
                )
        for attempt in range(_ATTEMPTS):
            found = await self.store.get_many_with_versions(
                [key, *(state_key for _, state_key in scopes)]
            )
            entry, version = found.get(key, (None, 0))
            states = [found.get(state_key, (None, 0)) for _, state_key in scopes]
            if entry is None:
                raise SessionNotFoundError(f"Session {session.id} not found.")
            adk = _adk(entry)
            if event.id == adk.get("lastEventId"):
                if await self._stored_last(key, adk) == event:
                    return event  # the stored last event, delivered again: stored once
                raise ValueError(
                    f"event id {event.id!r} is the last event of session {session.id!r}"
                    " already: a different event needs an id of its own"
                )
            self._check_fresh(session, adk)
            if self._may_be_pending(key, adk) and await self._settle(
                key, adk, await self._newest_id(key)
            ):
                # the previous event went first (nothing may come between it and this
                # one); that append moved the entry's counters, and so its version
                continue
            changed = _revised(entry, adk, event, pending, deltas)
            items: list[tuple[str, Mapping[str, Any]]] = [(key, changed)]
            expected = {key: version}
            for (scope, state_key), (current, current_version) in zip(scopes, states, strict=True):
                fields = _adk(current) or {"appName": session.app_name, "state": {}}
                if scope == "user":
                    fields.setdefault("userId", session.user_id)
                fields["state"].update(deltas[scope])
                items.append((state_key, _state_entry(current, fields)))
                expected[state_key] = current_version
            try:
                await self.store.put_many(items, expected_versions=expected)
            except StaleEntryError:
                # read again: a new revision is stale, anything else merges again
                await _backoff(attempt)
                continue
            return await self._appended(session, event, key, pending, changed["adk"])
        raise SessionStoreError(f"append_event lost {_ATTEMPTS} races for {key!r}")

    async def _appended(
        self,
        session: Session,
        event: Event,
        key: str,
        pending: dict[str, Any] | None,
        adk: Mapping[str, Any],
    ) -> Event:
        """The end of an append: the event into the transcript when the entry records
        it as ``pending`` (``None``: it is there already), and ``session`` brought up to
        date with the entry's ``adk`` fields."""
        if pending is not None:
            await self._complete(key, pending)
        session.last_update_time = event.timestamp
        session._storage_update_marker = _marker(adk)
        return self._commit_event_to_session(session, event)

    async def _stored_last(self, key: str, adk: Mapping[str, Any]) -> Event | None:
        """The session's last stored event: the one recorded with the entry, or (after
        an import, which records none) the transcript's newest."""
        pending = adk.get("pendingEvent")
        if isinstance(pending, dict):
            return _event_of(pending)
        last = await self.store.transcripts.tail(key, limit=1)
        return _event_of(last[-1]) if last else None

    def _check_fresh(self, session: Session, adk: Mapping[str, Any]) -> None:
        """Raise ADK's StaleSessionError when storage holds a newer revision of the
        session than ``session``."""
        marker = session._storage_update_marker
        if marker is not None:
            if marker != _marker(adk):
                raise StaleSessionError(_STALE)
        elif adk["lastUpdateTime"] > session.last_update_time:
            # a session object built elsewhere: fresh if it ends with the stored event
            last = session.events[-1].id if session.events else None
            if last != adk.get("lastEventId"):
                raise StaleSessionError(_STALE)

    async def _complete(self, key: str, pending: dict[str, Any]) -> None:
        """The second step of an append: the recorded event into the transcript."""
        await self.store.transcripts.append(key, [pending])
        self._completed[key] = pending["id"]
        self._completed.move_to_end(key)
        if len(self._completed) > _COMPLETED_KEPT:
            self._completed.popitem(last=False)

    def _may_be_pending(self, key: str, adk: Mapping[str, Any]) -> bool:
        """Whether the session's recorded event may still be missing from its
        transcript: not when this service appended that very event itself (the common
        case of one writer, which then reads no transcript before its next append)."""
        pending = adk.get("pendingEvent")
        return isinstance(pending, dict) and pending.get("id") != self._completed.get(key)

    async def import_session(
        self, session: Session, *, app_state: dict[str, Any], user_state: dict[str, Any]
    ) -> list[str]:
        """Store ``session`` (state and events, as another service returned it) under its
        own app, user and id, merging ``app_state`` and ``user_state`` (raw keys) into
        the stored ones; events already stored (by id) are skipped. Returns the ids of
        the events the stored session holds afterwards, in order. Used by
        :func:`import_adk_database`."""
        key = session_key(session.app_name, session.user_id, session.id)
        deltas = _session_util.extract_json_safe_state_delta(session.state)
        app_key, user_key = _app_key(session.app_name), _user_key(session.app_name, session.user_id)
        for attempt in range(_ATTEMPTS):
            found = await self.store.get_many_with_versions([key, app_key, user_key])
            entry, version = found.get(key, (None, 0))
            (app, app_version), (user, user_version) = (
                found.get(app_key, (None, 0)),
                found.get(user_key, (None, 0)),
            )
            adk = _adk(entry)
            if adk.get("pendingEvent") and await self._settle(key, adk, await self._newest_id(key)):
                continue
            last = session.events[-1] if session.events else None
            adk.update(
                appName=session.app_name,
                userId=session.user_id,
                id=session.id,
                state=deltas["session"],
                lastUpdateTime=session.last_update_time,
                revision=adk.get("revision", 0) + 1,
                lastEventId=last.id if last else None,
            )
            adk.setdefault("createTime", session.last_update_time)
            adk.pop("pendingEvent", None)
            base = entry.to_dict() if entry is not None else {"sessionId": str(uuid.uuid4())}
            changed = base | {"updatedAt": _ms(session.last_update_time), "adk": adk}
            app_fields = _adk(app) or {"appName": session.app_name, "state": {}}
            user_fields = _adk(user) or {
                "appName": session.app_name,
                "userId": session.user_id,
                "state": {},
            }
            app_fields["state"].update(app_state)
            user_fields["state"].update(user_state)
            items = [
                (key, changed),
                (app_key, _state_entry(app, app_fields)),
                (user_key, _state_entry(user, user_fields)),
            ]
            expected = {key: version, app_key: app_version, user_key: user_version}
            try:
                await self.store.put_many(items, expected_versions=expected)
            except StaleEntryError:
                await _backoff(attempt)
                continue
            for start in range(0, len(session.events), MAX_PAGE_SIZE):
                chunk = session.events[start : start + MAX_PAGE_SIZE]
                await self.store.transcripts.append(key, [_transcript_event(e) for e in chunk])
            return [str(event["id"]) for event in await self._events(key, None)]
        raise SessionStoreError(f"import lost {_ATTEMPTS} races for {key!r}")


@dataclass(frozen=True)
class AdkImportReport:
    """What :func:`import_adk_database` copied: sessions and events read from the
    source, and how many of each the target held already (a re-run copies nothing)."""

    sessions: int
    events: int
    sessions_present: int
    events_present: int


async def import_adk_database(
    source_db_url: str,
    service: SessionStoreSessionService,
    *,
    app_names: Iterable[str] | None = None,
) -> AdkImportReport:
    """Copy every session of an ADK ``DatabaseSessionService`` database (its state,
    events, and the app and user state) into ``service``, verified, idempotent.

    The source is read through ADK's own ``DatabaseSessionService`` (an asyncio URL such
    as ``sqlite+aiosqlite:///sessions.db``) and never written; ``app_names`` defaults to
    every app with a session there. Each session is written with its id, state and
    ``last_update_time``; events keep their ids, so those already copied are skipped.
    Each session's events are counted back from the target: fewer than the source's
    raise :class:`~sessionstore.errors.SessionStoreError`.
    """
    url = make_url(source_db_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        # ADK's service would create an empty database there: refuse instead
        raise SessionStoreError(f"no ADK database at {url.database!r}")
    source = DatabaseSessionService(source_db_url)
    try:
        apps = list(app_names) if app_names is not None else await _app_names(source)
        sessions = events = sessions_present = events_present = 0
        for app_name in apps:
            listed = await source.list_sessions(app_name=app_name)
            app_state: dict[str, Any] = {}
            for brief in listed.sessions:
                full = await source.get_session(
                    app_name=app_name, user_id=brief.user_id, session_id=brief.id
                )
                if full is None:
                    continue  # deleted meanwhile
                present = await service.get_session(
                    app_name=app_name, user_id=full.user_id, session_id=full.id
                )
                known = set() if present is None else {e.id for e in present.events}
                if present is not None:
                    sessions_present += 1
                deltas = _session_util.extract_state_delta(full.state)
                app_state = deltas["app"]
                user_state = await source.get_user_state(app_name=app_name, user_id=full.user_id)
                stored = await service.import_session(
                    full, app_state=app_state, user_state=user_state
                )
                missing = {e.id for e in full.events} - set(stored)
                if missing:
                    raise SessionStoreError(
                        f"import of ADK session {full.id!r} ({app_name}/{full.user_id}) lacks "
                        f"{len(missing)} of its {len(full.events)} events"
                    )
                sessions += 1
                events += len(full.events)
                events_present += sum(1 for e in full.events if e.id in known)
        return AdkImportReport(sessions, events, sessions_present, events_present)
    finally:
        await source.close()


async def _app_names(source: DatabaseSessionService) -> list[str]:
    """Every app with a session in an ADK database (ADK's service has no call for it):
    one read-only query on ADK's own session model."""
    await source.prepare_tables()
    model = source._get_schema_classes().StorageSession
    async with source.db_engine.connect() as conn:
        rows = await conn.execute(select(model.app_name).distinct().order_by(model.app_name))
        return [str(name) for (name,) in rows]
