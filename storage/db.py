"""Opening the DuckDB file: short-lived write connections, clear lock errors, migrations.

DuckDB lets one process open a file read-write or many open it read-only, never both. The pipeline
therefore opens its write connection only for the moment it writes, retries for a bounded time when
someone else holds the file, and then fails with a message naming the holder.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb

from newswatch.config import StorageConfig
from storage.schema import LATEST_VERSION, MIGRATIONS


class StorageError(Exception):
    """The database cannot be used; the message says which file and why."""


class PassRunning(StorageError):
    """Another pass holds the database's pass lock."""


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def _is_lock_conflict(error: duckdb.Error) -> bool:
    return "lock" in str(error).lower()


def _describe_holder(error: duckdb.Error) -> str:
    match = _LOCK_HOLDER.search(str(error))
    if not match:
        return "another process"
    return f"{match.group(1)} (PID {match.group(2)})"


@contextmanager
def connect(
    path: Path, *, read_only: bool = False, lock_timeout: float = 10.0, memory_limit_mb: int | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open `path`, waiting up to `lock_timeout` seconds for another process to let go of it.

    `memory_limit_mb`: DuckDB's `memory_limit` for this connection (None: DuckDB's default, 80% of
    the machine's memory); past it, DuckDB spills to `<path>.tmp`."""
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"{path}: cannot create its folder ({error.strerror})") from None
    config = {"memory_limit": f"{memory_limit_mb}MB"} if memory_limit_mb else {}
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only, config=config)
            break
        except duckdb.IOException as error:
            if _is_lock_conflict(error) and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            if _is_lock_conflict(error):
                raise StorageError(
                    f"{path} is locked by {_describe_holder(error)}; waited {lock_timeout:g}s. "
                    "Close that program (analysts: open the snapshot file instead) and run again."
                ) from None
            raise StorageError(f"{path}: cannot open the database: {error}") from None
        except duckdb.Error as error:
            raise StorageError(f"{path}: not a usable DuckDB database: {error}") from None
    try:
        yield connection
    except duckdb.Error as error:
        _raise_if_disk_full(path, error)
        raise
    finally:
        try:
            connection.close()  # checkpoints: writes too
        except duckdb.Error as error:
            _raise_if_disk_full(path, error)
            raise


def open_database(storage: StorageConfig, *, read_only: bool = False) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """`connect` to the configured database with the configured lock timeout and memory limit."""
    return connect(
        storage.path,
        read_only=read_only,
        lock_timeout=storage.lock_timeout_seconds,
        memory_limit_mb=storage.memory_limit_mb,
    )


_DISK_FULL = ("No space left on device", "Disk quota exceeded")


def _raise_if_disk_full(path: Path, error: BaseException) -> None:
    """A write that failed for lack of space is the operator's problem to fix, not a crash: one
    message naming the file (DuckDB rolled the transaction back, the file is as it was)."""
    reason = next((text for text in _DISK_FULL if text in str(error)), None)
    if reason is not None:
        raise StorageError(
            f"{path}: cannot write, the disk is full ({reason}); nothing of the failed write was "
            f"stored. Free space on {path.parent} and run again."
        ) from None


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All-or-nothing: a pass killed inside this block leaves the file as it was before."""
    connection.execute("BEGIN TRANSACTION")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def schema_version(connection: duckdb.DuckDBPyConnection) -> int:
    exists = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return 0
    return connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def migrate(connection: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration newer than the file; returns the versions applied."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, description VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    current = schema_version(connection)
    if current > LATEST_VERSION:
        raise StorageError(
            f"the database is at schema version {current}, newer than this release "
            f"({LATEST_VERSION}); upgrade newswatch before using this file"
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        with transaction(connection):
            connection.execute(migration.sql)
            connection.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                [migration.version, migration.description],
            )
        applied.append(migration.version)
    return applied


class PassLock:
    """One pass at a time per database: a second pass refuses (at once, or after waiting `wait`
    seconds for the holder to finish) instead of interleaving.

    An advisory `flock` on `<db>.pass.lock`; the kernel releases it when the holder dies, so a
    killed pass never leaves a stale lock behind.
    """

    def __init__(self, db_path: Path, wait: float = 0.0):
        self.db_path = db_path
        self.path = db_path.with_name(db_path.name + ".pass.lock")
        self.wait = wait  # seconds to wait for a holder to finish before refusing
        self._fd: int | None = None

    def __enter__(self) -> PassLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise PassRunning(
                    f"another newswatch pass (PID {holder}) is running on {self.db_path}; "
                    "this pass was not started"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
