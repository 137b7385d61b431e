"""No cyclic garbage collection while a batch run analyses a project.

A project run parses every file of the project and keeps the trees, indexes and
walks until it returns (`analysis/project.py`): millions of objects that are all
alive to the end. The collector cannot free any of them, yet every young
collection examines the new ones and each generation-1 collection rescans about a
million of them (measured on every 4th file of the transformers tree: 0.8-0.9
CPU-s, 12-16% of a `check`). mypy raises its collection thresholds for the same
reason. The price is the cyclic garbage the run itself leaves (dropped fix
passes, temporaries in cycles): it stays until the run ends (measured +8% peak
memory on the same set).

On exit everything the run allocated is moved to the oldest generation
(`gc.freeze()` then `gc.unfreeze()`), so that no young collection after it
rescans the kept trees either, and automatic collection is restored as it was.

Used by `check`, `fix` and `verify`, which end when the run does. Not by the
language server: it drops a tree at every edit, and objects moved to the oldest
generation this way do not count towards the next full collection, which is what
frees those dropped trees; nor by the pylint plugin, whose process and collector
belong to pylint.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_collection() -> Iterator[None]:
    """Automatic collection off for the run; what it allocated moves to the oldest generation after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()
