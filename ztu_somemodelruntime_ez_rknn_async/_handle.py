"""Destroying one ``rknn_context`` handle exactly once: parent-last ordering, its memories, keepalives.

:class:`HandleState` is what the finalizer of an :class:`~._context.RknnContext` holds.  It guarantees:

* ``rknn_destroy`` runs exactly once per handle, from ``RknnContext.destroy`` or, as a safety net, from
  a ``weakref.finalize`` that holds only the C functions and the handle value, so it still works during
  interpreter shutdown;
* a parent's ``rknn_destroy`` (a context that was ``dup``-ed or shares its weights) waits until every
  child handle has been destroyed;
* memories created through the context and not destroyed by their owner are destroyed before it.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional

from .errors import check

__all__ = ["HandleState"]

# Logged under the context wrapper's name, as before the split.
logger = logging.getLogger(__name__.rpartition(".")[0] + "._context")


class HandleState:
    """What destroying one handle needs, deliberately without a reference to the RknnContext.

    The finalizer of an RknnContext holds this object; if it held the RknnContext instead, the
    context could never become unreachable. ``destroy_fn``/``destroy_mem_fn`` are the bound C
    functions, captured now, so nothing needs importing or looking up at interpreter exit.
    """

    __slots__ = (
        "handle",
        "destroy_fn",
        "destroy_mem_fn",
        "parent",
        "lock",
        "children",
        "requested",
        "destroyed",
        "mems",
        "keepalive",
    )

    def __init__(
        self,
        handle: int,
        destroy_fn: Callable[..., int],
        destroy_mem_fn: Callable[..., int],
        parent: Optional[HandleState],
    ) -> None:
        self.handle = handle
        self.destroy_fn = destroy_fn
        self.destroy_mem_fn = destroy_mem_fn
        self.parent = parent
        self.lock = threading.Lock()
        self.children = 0
        self.requested = False  # destroy asked for (explicitly or by the finalizer)
        self.destroyed = False  # rknn_destroy started; never called twice
        # Memories created through this context, destroyed before it (rknn-abi.md §7.6) unless
        # their owner already did so. Keyed by address.
        self.mems: Dict[int, Any] = {}
        # Objects the runtime keeps raw pointers to (custom-op tables and their callbacks), needed
        # until rknn_destroy returns because it calls the ops' destroy callbacks.
        self.keepalive: List[object] = []

    def add_child(self) -> None:
        with self.lock:
            self.children += 1

    def child_gone(self) -> None:
        with self.lock:
            self.children -= 1
            go = self.requested and self.children == 0 and not self.destroyed
            if go:
                self.destroyed = True
        if go:
            self._destroy_now(raise_errors=False)

    def release(self, raise_errors: bool) -> None:
        with self.lock:
            if self.requested:
                return
            self.requested = True
            if self.children or self.destroyed:
                # The last child to go finishes the job: a parent's handle must outlive its dups
                # and weight-sharing dependents.
                return
            self.destroyed = True
        self._destroy_now(raise_errors)

    def finalize(self) -> None:
        try:
            self.release(raise_errors=False)
        except BaseException:  # noqa: B902 - a finalizer must never raise, even at interpreter exit
            pass

    def _destroy_now(self, raise_errors: bool) -> None:
        handle = self.handle
        ret = 0
        try:
            for mem in list(self.mems.values()):
                mret = self.destroy_mem_fn(handle, mem)
                if mret < 0:
                    _log_quietly(logging.WARNING, "rknn_destroy_mem on context 0x%x returned %d", handle, mret)
            self.mems.clear()
            ret = self.destroy_fn(handle)
        finally:
            self.keepalive.clear()
            parent = self.parent
            self.parent = None
            if parent is not None:
                parent.child_gone()
        if ret < 0:
            if raise_errors:
                check(ret, "rknn_destroy")
            _log_quietly(logging.WARNING, "rknn_destroy(0x%x) returned %d", handle, ret)


def _log_quietly(level: int, msg: str, *args: object) -> None:
    # Logging may already be torn down when finalizers run at interpreter exit.
    try:
        logger.log(level, msg, *args)
    except Exception:
        pass
