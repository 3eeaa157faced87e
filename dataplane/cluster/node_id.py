"""The data plane's node id: created once, kept in `<prefix>/node.id` across restarts, so the
control plane sees a restarted node as the same data plane (Kong keeps `kong.id` the same way)."""

from __future__ import annotations

import os
import uuid

FILENAME = "node.id"


def load_or_create(prefix: str) -> str:
    """The id stored under `prefix`, or a new uuid4 written there first. A file that does not
    hold a uuid (truncated, edited) is replaced rather than failing the start."""
    path = os.path.join(prefix, FILENAME)
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return str(uuid.UUID(f.read().strip()))
    except (FileNotFoundError, ValueError):
        pass
    node_id = str(uuid.uuid4())
    os.makedirs(prefix, exist_ok=True)
    # Written aside and renamed: a crash mid-write must not leave a half id behind.
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(node_id + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return node_id
