"""Faults of the database server and of the schema's first creation.

- A server that stops answering: the PostgreSQL backend process serving the store's
  only connection is paused with SIGSTOP (never the postmaster, never anyone else's);
  MariaDB, one process for every connection, is reached through a proxy in the test
  that stops forwarding. A write then fails with StoreUnavailableError once the
  client's read timeout expires, another writer waiting for the row lock the stopped
  transaction holds fails once the server's lock timeout expires, and the entry is the
  old one or the new one, never anything in between.
- Processes that open a fresh database with ``auto_upgrade`` at the same moment all
  succeed: schema changes take turns.
- An upgrade killed with SIGKILL on MariaDB, whose DDL commits at once, leaves tables
  without a revision: every command then says so and names the repair, which works.

No sleeps: each fault happens at a point the code under test signals (a statement
about to be sent, a table just created), and each timeout is the database's or the
driver's.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import selectors
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, make_url, text
from typer.testing import CliRunner

from sessionstore import (
    SchemaOutdatedError,
    SessionEntry,
    StoreUnavailableError,
    current_revision,
    head_revision,
    open_store,
    upgrade,
)
from sessionstore.backends.sql import SqlStore
from sessionstore.cli import app
from sessionstore.sql.engine import create_sql_engine
from sessionstore.sql.upgrade import check, schema_state
from tests.contract.backends import BACKENDS, with_marks_of
from tests.reliability.workloads import run_workers

KEY = "agent:main:main"
OLD = SessionEntry(session_id="old", updated_at=1)
NEW = SessionEntry(session_id="new", updated_at=2)
OTHER = SessionEntry(session_id="other", updated_at=3)
#: The short timeouts of the stores under test, in seconds.
READ_TIMEOUT = 1
LOCK_TIMEOUT = 1
#: One connection, so that the connection whose backend is paused is the one used next.
ONE_CONNECTION = {"pool_size": 1, "max_overflow": 0}
#: A bound on how long a child process may take to reach its signalled point.
SIGNAL_TIMEOUT_S = 120
#: A bound on a fault: after this long the server answers again, so that a store
#: without its timeouts makes the test fail instead of hang.
FAULT_BOUND_S = 120


def _sql_store(store: object) -> SqlStore:
    assert isinstance(store, SqlStore), type(store)
    return store


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message, message
    return message


def _bound(end_the_fault: Callable[[], None]) -> threading.Timer:
    """Ends the fault after :data:`FAULT_BOUND_S` unless cancelled first."""
    timer = threading.Timer(FAULT_BOUND_S, end_the_fault)
    timer.daemon = True
    timer.start()
    return timer


def _pause_before_the_second_statement(store: SqlStore, pause: Callable[[], None]) -> None:
    """Call ``pause`` once, when the store is about to send the second statement of a
    compare-and-set write: the first one has locked the row."""
    sent: list[str] = []

    def traced(sql: str, _params: Any) -> None:
        if sql.strip().upper() in ("BEGIN", "BEGIN IMMEDIATE"):
            return
        sent.append(sql)
        if len(sent) == 2:
            pause()

    store.trace(traced)


# -- a server that stops answering ------------------------------------------------------


def test_a_paused_postgresql_backend_fails_the_write_not_hangs_it(postgresql_url: str) -> None:
    upgrade(postgresql_url)
    url = make_url(postgresql_url)
    timed = url.update_query_dict({"read_timeout": str(READ_TIMEOUT)})
    options = f"{url.query['options']} -c lock_timeout={LOCK_TIMEOUT * 1000}"
    with (
        open_store(timed.render_as_string(False), engine_options=ONE_CONNECTION) as opened,
        open_store(postgresql_url, engine_options={"connect_args": {"options": options}}) as other,
    ):
        writer = _sql_store(opened)
        version = writer.put(KEY, OLD)
        with writer.engine.connect() as conn:
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        paused = threading.Event()

        def pause() -> None:
            os.kill(backend, signal.SIGSTOP)  # our own backend: only this test uses it
            paused.set()

        _pause_before_the_second_statement(writer, pause)
        bound = _bound(lambda: os.kill(backend, signal.SIGCONT))
        try:
            with pytest.raises(StoreUnavailableError, match="read_timeout") as no_answer:
                writer.put(KEY, NEW, expected_version=version)
            assert paused.is_set()
            # The stopped transaction still holds the row lock: the server gives up.
            with pytest.raises(StoreUnavailableError, match="lock timeout") as locked:
                other.put(KEY, OTHER)
        finally:
            bound.cancel()
            if paused.is_set():
                os.kill(backend, signal.SIGCONT)
        for exc in (no_answer.value, locked.value):
            assert _one_line(exc).startswith("put failed on postgresql+psycopg://")
        assert other.get(KEY) in (OLD, NEW)
        writer.trace(None)
    # Once the backend ran again, it found its client gone and rolled back.
    _whole_and_unlocked(postgresql_url)


def _whole_and_unlocked(url: str) -> None:
    """The write that timed out is all there or not at all, and its lock is gone
    (the next write goes through within the default lock timeout)."""
    with open_store(url) as after:
        assert after.get(KEY) in (OLD, NEW)
        after.put(KEY, OTHER)
        assert after.get(KEY) == OTHER


class StoppableProxy:
    """A TCP proxy to a server that can stop forwarding: from then on the server hears
    nothing more from the client and the client nothing more from the server, and both
    connections stay open until :meth:`close`, like a server that has stopped."""

    def __init__(self, host: str, port: int) -> None:
        self._server = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._server)
            self._sockets += [client, upstream]
            thread = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peer:
                selector.register(sock, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    assert isinstance(key.fileobj, socket.socket)
                    sock = key.fileobj
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:  # closed: by its peer, or by close()
                        selector.unregister(sock)
                        if not self.stopped.is_set():
                            with suppress(OSError):
                                peer[sock].shutdown(socket.SHUT_WR)
                    elif not self.stopped.is_set():
                        peer[sock].sendall(data)

    def close(self) -> None:
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (Linux)
        self._listener.close()
        for sock in self._sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join()
        for sock in self._sockets:
            sock.close()


@contextmanager
def stoppable_proxy(url: str) -> Iterator[StoppableProxy]:
    parsed = make_url(url)
    proxy = StoppableProxy(parsed.host or "127.0.0.1", parsed.port or 3306)
    try:
        yield proxy
    finally:
        proxy.close()


def test_a_mariadb_server_that_stops_answering_fails_the_write_not_hangs_it(
    mysql_url: str,
) -> None:
    upgrade(mysql_url)
    url = make_url(mysql_url)
    lock_wait = f"SET SESSION innodb_lock_wait_timeout = {LOCK_TIMEOUT}"
    with stoppable_proxy(mysql_url) as proxy:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port).update_query_dict(
            {"read_timeout": str(READ_TIMEOUT)}
        )
        with (
            open_store(through_proxy.render_as_string(False), engine_options=ONE_CONNECTION) as o,
            open_store(
                mysql_url, engine_options={"connect_args": {"init_command": lock_wait}}
            ) as other,
        ):
            writer = _sql_store(o)
            version = writer.put(KEY, OLD)
            _pause_before_the_second_statement(writer, proxy.stopped.set)
            bound = _bound(proxy.close)
            with pytest.raises(StoreUnavailableError, match="timed out") as no_answer:
                writer.put(KEY, NEW, expected_version=version)
            bound.cancel()
            assert proxy.stopped.is_set()
            # The server's session still holds the row lock: the server gives up.
            with pytest.raises(StoreUnavailableError, match="Lock wait timeout") as locked:
                other.put(KEY, OTHER)
            for exc in (no_answer.value, locked.value):
                assert _one_line(exc).startswith("put failed on mysql+pymysql://")
            assert other.get(KEY) in (OLD, NEW)
            writer.trace(None)
    # The proxy closed both connections: the server rolled the transaction back.
    _whole_and_unlocked(mysql_url)


# -- concurrent first open --------------------------------------------------------------

OPENERS = 4


def open_fresh(target: str, index: int, start: Callable[[], None]) -> str | None:
    """A worker: open the fresh database with auto_upgrade once all are ready, write."""
    start()
    with open_store(target, auto_upgrade=True) as store:
        store.put(f"agent:main:opener-{index}", SessionEntry(session_id=f"s{index}", updated_at=1))
    return current_revision(target)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [BACKENDS[name].param() for name in ("sqlite", "sqlite-sqlalchemy", "postgresql", "mysql")],
)
def test_processes_opening_a_fresh_database_at_once_all_succeed(
    name: str, request: pytest.FixtureRequest
) -> None:
    target = str(request.getfixturevalue(BACKENDS[name].url_fixture))
    assert current_revision(target) is None
    done = run_workers(open_fresh, [(target, index) for index in range(OPENERS)])
    assert done.results == [head_revision()] * OPENERS
    with open_store(target) as store:
        assert store.count() == OPENERS


THREADS = 8


@pytest.mark.slow
def test_threads_upgrading_databases_at_once_all_succeed(tmp_path: Path) -> None:
    """Alembic gives each upgrade its connection through module-level proxies: threads
    of one process that upgraded at once used each other's connections (a table created
    in the wrong database, the driver misused, the interpreter crashed). Eight threads
    open their own new databases and four more share one, all released together."""
    own = [f"sqlite:///{tmp_path / f'own-{index}.db'}" for index in range(THREADS)]
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    targets = own + [shared] * OPENERS
    ready = threading.Barrier(len(targets))

    def start() -> None:
        ready.wait()

    def opener(index: int, target: str) -> str | None:
        return open_fresh(target, index, start)

    with ThreadPoolExecutor(len(targets)) as pool:
        revisions = list(pool.map(opener, range(len(targets)), targets))
    assert revisions == [head_revision()] * len(targets)
    for index, target in enumerate(own):
        check(target)
        with open_store(target) as store:
            assert [key for key, _ in store.iter_entries()] == [f"agent:main:opener-{index}"]
    with open_store(shared) as store:
        assert store.count() == OPENERS


# -- an upgrade killed halfway on MariaDB -----------------------------------------------

fork = multiprocessing.get_context("fork")
_CREATE_SESSIONS = re.compile(r"^\s*CREATE TABLE sessions\s*\(", re.IGNORECASE)


def _upgrade_until_the_first_table(url: str, point: Connection) -> None:
    """A child: upgrade, and once ``sessions`` exists, say so and wait to be killed."""
    engine = create_sql_engine(url)

    @event.listens_for(engine, "after_cursor_execute")
    def created(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if _CREATE_SESSIONS.match(statement):
            point.send("sessions created")
            point.recv()  # never answered: the parent kills this process

    upgrade(engine)


@with_marks_of(["mysql"])
def test_an_upgrade_killed_halfway_on_mariadb_is_named_and_repaired(mysql_url: str) -> None:
    parent, child = fork.Pipe()
    upgrader = fork.Process(target=_upgrade_until_the_first_table, args=(mysql_url, child))
    upgrader.start()
    with closing(parent):
        assert parent.poll(SIGNAL_TIMEOUT_S), "the upgrade never created its first table"
        assert parent.recv() == "sessions created"
        os.kill(upgrader.pid or 0, signal.SIGKILL)
        upgrader.join()
    assert upgrader.exitcode == -signal.SIGKILL

    # DDL committed at once: the table is there, the revision is not.
    assert current_revision(mysql_url) is None
    assert schema_state(mysql_url) == (
        None,
        "an upgrade was stopped halfway: run `sessionstore db repair`",
    )
    with pytest.raises(
        SchemaOutdatedError, match=r"\(sessions\) but no schema revision"
    ) as refused:
        open_store(mysql_url, auto_upgrade=True)
    assert "`sessionstore db repair --url" in _one_line(refused.value)
    runner = CliRunner()
    for command in (["db", "upgrade"], ["db", "current"], ["info"]):
        done = runner.invoke(app, [*command, "--url", mysql_url], catch_exceptions=False)
        output = done.stdout + done.stderr
        assert "Traceback" not in output and "1050" not in output
        assert "sessionstore db repair" in output, (command, output)

    done = runner.invoke(app, ["db", "repair", "--url", mysql_url], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    assert f"dropped the empty sessions, schema at {head_revision()}" in done.stdout
    with open_store(mysql_url) as store:
        store.put(KEY, OLD)
        assert store.get(KEY) == OLD
