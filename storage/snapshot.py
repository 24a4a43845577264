"""The analyst snapshot: a copy of the database, atomically replaced after each pass.

Analysts open the snapshot (read-only or not, with any tool) and never block a pass; a pass
replaces the file with os.replace, so a reader sees either the old or the new file, never a
half-written one, and a reader holding the old file open keeps reading the old one.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from storage.db import StorageError


def publish_snapshot(db_path: Path, snapshot_path: Path) -> Path:
    """Copy the (closed, checkpointed) database to `snapshot_path` atomically."""
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = snapshot_path.with_name(f".{snapshot_path.name}.{os.getpid()}.tmp")
    # A pass killed while copying (SIGKILL runs no `finally`) left its partial copy behind; only
    # one pass publishes at a time (the pass lock), so any other temporary copy is such a leftover.
    for leftover in snapshot_path.parent.glob(f".{snapshot_path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)
    try:
        with open(db_path, "rb") as source, open(temporary, "wb") as target:
            shutil.copyfileobj(source, target, length=1 << 20)
            target.flush()
            os.fsync(target.fileno())
        os.replace(temporary, snapshot_path)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageError(
                f"{snapshot_path}: cannot publish the analyst snapshot, the disk is full ({error.strerror}); "
                "the database itself is complete and the previous snapshot stays in place. Free space and "
                "run again."
            ) from None
        raise
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(snapshot_path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)
    return snapshot_path
