"""What is the same for every visitor of a model pair, computed once per server process and shared.

A shipped pair's Workspace is one object for every session (session.shipped_workspace), so what a page derives
from it alone (say, the inspect card's server images for one point) can be kept beside it: a crowd that opens one
link then asks for it once. Kept per workspace, least recently used first, and dropped with the workspace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar
from weakref import WeakKeyDictionary

from cachetools import LRUCache

from vae_core.workspace import Workspace

T = TypeVar("T")
ENTRIES = 512  # per workspace and kind of value

_values: WeakKeyDictionary[Workspace, dict[str, LRUCache]] = WeakKeyDictionary()
_lock = threading.Lock()


def per_workspace(ws: Workspace, kind: str, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``'s value for (kind, key) of this workspace, computed by the first visitor who asks."""
    with _lock:
        cache = _values.setdefault(ws, {}).setdefault(kind, LRUCache(ENTRIES))
        if key in cache:
            return cache[key]
    value = compute()  # outside the lock: two visitors asking at once may both compute; the first result stays
    with _lock:
        return cache.setdefault(key, value)
