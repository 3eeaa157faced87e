"""Cyclic garbage collection paused while a large config is parsed or validated.

Parsing allocates hundreds of thousands of long-lived containers (YAML nodes, entities) and
almost no cyclic garbage; every collection triggered meanwhile walks the growing heap again,
which cost more than half of a 30,000-entity parse. Reference counting still frees everything
at once; cycles made meanwhile wait for the first collection after the pause.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    if not gc.isenabled():  # already paused, by a caller or the application: leave it so
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
