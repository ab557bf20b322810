"""Zero-copy memory: the context that owns NPU memory objects, and the bytes behind an RKNN OrtValue.

Two objects, and one lifetime rule between them:

* :class:`ContextOwner` wraps the zero-copy engine's own :class:`~._context.RknnContext` with a lock
  (the runtime allows one thread per context) and counts the memory objects alive in it. Its context is
  destroyed only after :meth:`ContextOwner.close` was called **and** the last memory object is gone, so
  an OrtValue that outlives its session still has valid memory.
* :class:`Storage` is the buffer of one OrtValue: a runtime allocation (``rknn_create_mem``), or a
  dma-buf fd (the caller's, duplicated; or one we allocate from ``/dev/dma_heap/system`` or, as the
  stand-in off a board, a ``memfd``) mapped into this process. It records one memory object per
  context it was imported into (``rknn_create_mem_from_fd``), and keeps those owners alive.

Freeing: an OrtValue's ``weakref.finalize`` calls :meth:`Storage.release`, which hands every memory
object to its owner's :meth:`ContextOwner.free`. A free never blocks: when another thread (or this
thread, e.g. a GC pass inside a run) holds the owner's lock, the memory object is queued and the lock
holder destroys it on its way out. Each memory object is destroyed exactly once whatever the order in
which sessions, bindings and values are dropped; a memory object whose context was already destroyed
(the context frees what it tracks) is simply forgotten.

Cache state (rknn-abi.md §2.4 ``rknn_mem_sync``): a :class:`Storage` also records, per context, whether
the CPU may have written its bytes since the last ``rknn_mem_sync(TO_DEVICE)`` there, so the engine can
skip the per-run sync of a clean input. Every CPU write this package makes (``update_inplace``) bumps the
storage's write generation *after* the bytes are written and before it syncs, and a sync records the
generation it saw *before* the call; a write racing a sync therefore leaves the storage dirty. A storage
whose address or fd was handed out (``data_ptr()``, ``memory_info()``) or that wraps a caller's dma-buf
is *escaped*: it may be written behind our back at any time and is synced before every run. See
:mod:`._zc_engine` for the rule.
"""
from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import mmap
import os
import struct
import threading
from typing import TYPE_CHECKING, Deque, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ._context import RknnContext
from .errors import InvalidArgumentError, SessionClosedError

if TYPE_CHECKING:
    from ._context import MemPointer

__all__ = ["ContextOwner", "Storage"]

logger = logging.getLogger(__name__)

#: The system dma-buf heap of Linux boards (the peer's only allocation path).
DMA_HEAP_PATH = "/dev/dma_heap/system"
# DMA_HEAP_IOCTL_ALLOC = _IOWR('H', 0, struct dma_heap_allocation_data{u64 len; u32 fd; u32 fd_flags; u64 heap_flags})
_DMA_HEAP_IOCTL_ALLOC = 0xC0184800
_DMA_HEAP_DATA = struct.Struct("=QIIQ")


def _log_quietly(level: int, msg: str, *args: object) -> None:
    # Finalizers may run during interpreter shutdown, when logging can already be torn down.
    try:
        logger.log(level, msg, *args)
    except Exception:  # noqa: BLE001
        pass


class ContextOwner:
    """The zero-copy engine's context, its lock, and the memory objects alive in it.

    Every call on the context goes through :meth:`locked` (or a ``*_locked`` method while holding it).
    """

    __slots__ = ("ctx", "name", "_lock", "_pending", "_live", "_closing", "_destroyed", "__weakref__")

    def __init__(self, ctx: RknnContext, name: str) -> None:
        """Own ``ctx`` (destroyed by this object from now on)."""
        self.ctx = ctx
        self.name = name
        self._lock = threading.Lock()  # not reentrant on purpose: a GC pass inside a run must queue, not enter
        self._pending: Deque[MemPointer] = collections.deque()
        self._live = 0
        self._closing = False
        self._destroyed = False

    # ------------------------------------------------------------------ locking

    @contextlib.contextmanager
    def locked(self) -> Iterator[RknnContext]:
        """Hold the lock; yields the context. Queued frees are done before the lock is released.

        Raises:
            SessionClosedError: the context has been destroyed.
        """
        self._lock.acquire()
        try:
            if self._destroyed:
                raise SessionClosedError("the zero-copy context of {} has been destroyed".format(self.name))
            yield self.ctx
        finally:
            try:
                self._drain_locked()
            finally:
                self._lock.release()
            # A free queued between the drain above and the release would otherwise wait for the next call.
            self._drain()

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closing

    @property
    def live(self) -> int:
        """Memory objects alive in the context (queued frees included)."""
        return self._live

    # ------------------------------------------------------------------ memory objects

    def allocate_locked(self, size: int, flags: int = 0) -> MemPointer:
        """``rknn_create_mem`` (``rknn_create_mem2`` when ``flags``); the lock must be held."""
        mem = self.ctx.create_mem2(size, flags) if flags else self.ctx.create_mem(size)
        self._live += 1
        return mem

    def import_fd_locked(self, fd: int, virt_addr: int, size: int, offset: int) -> MemPointer:
        """``rknn_create_mem_from_fd``; the lock must be held."""
        mem = self.ctx.create_mem_from_fd(fd, virt_addr, size, offset)
        self._live += 1
        return mem

    def free(self, mem: MemPointer) -> None:
        """Destroy ``mem`` now, or as soon as the lock holder leaves. Never blocks, never raises."""
        self._pending.append(mem)
        self._drain()

    def close(self) -> None:
        """Destroy the context once its last memory object is gone (now if there is none). Idempotent."""
        self._closing = True
        self._drain()

    def _drain(self) -> None:
        while self._pending or (self._closing and self._live == 0 and not self._destroyed):
            if not self._lock.acquire(False):
                return  # the holder drains in locked()'s exit
            try:
                self._drain_locked()
            finally:
                self._lock.release()

    def _drain_locked(self) -> None:
        while self._pending:
            mem = self._pending.popleft()
            try:
                self.ctx.destroy_mem(mem)
            except SessionClosedError:
                pass  # the context was destroyed first, and freed every memory object it tracked
            except Exception as exc:  # noqa: BLE001 - a free must not raise (finalizers); logged
                _log_quietly(logging.WARNING, "rknn_destroy_mem on the zero-copy context of %s failed: %s",
                             self.name, exc)
            self._live -= 1
        if self._closing and self._live == 0 and not self._destroyed:
            self._destroyed = True
            try:
                self.ctx.destroy()
            except Exception as exc:  # noqa: BLE001
                _log_quietly(logging.WARNING, "destroying the zero-copy context of %s failed: %s", self.name, exc)

    def __repr__(self) -> str:
        return "<ContextOwner {} live={}{}>".format(
            self.name, self._live, " destroyed" if self._destroyed else " closing" if self._closing else "")


def _byte_view(address: int, nbytes: int) -> np.ndarray:
    """A uint8 numpy view of raw memory (valid only while the memory is)."""
    raw = memoryview((ctypes.c_ubyte * nbytes).from_address(address)).cast("B")
    return np.frombuffer(raw, dtype=np.uint8)


def _dma_heap_alloc(size: int) -> int:
    """A dma-buf fd of ``size`` bytes from the system heap, or -1 when there is no usable heap."""
    if not os.path.exists(DMA_HEAP_PATH):
        return -1
    try:
        import fcntl  # POSIX only; imported here so the module loads anywhere

        heap = os.open(DMA_HEAP_PATH, os.O_RDONLY | os.O_CLOEXEC)
    except (ImportError, OSError):
        return -1
    try:
        buf = bytearray(_DMA_HEAP_DATA.pack(size, 0, os.O_RDWR | os.O_CLOEXEC, 0))
        fcntl.ioctl(heap, _DMA_HEAP_IOCTL_ALLOC, buf, True)
        return int(_DMA_HEAP_DATA.unpack(bytes(buf))[1])
    except OSError as exc:
        logger.debug("dma-heap allocation of %d bytes failed: %s", size, exc)
        return -1
    finally:
        os.close(heap)


def _memfd_alloc(size: int) -> int:
    """A memfd of ``size`` bytes (the dma-buf stand-in off a board), or -1 without memfd support."""
    create = getattr(os, "memfd_create", None)
    if create is None:
        return -1
    try:
        fd = int(create("ez-rknn-ortvalue", getattr(os, "MFD_CLOEXEC", 1)))
    except OSError:
        return -1
    try:
        os.ftruncate(fd, size)
    except OSError:
        os.close(fd)
        return -1
    return fd


def _map(fd: int, length: int) -> Tuple[mmap.mmap, int]:
    """Map ``length`` bytes of ``fd`` shared read/write; returns the mapping and its address."""
    mapping = mmap.mmap(fd, length, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    anchor = ctypes.c_char.from_buffer(mapping)
    address = ctypes.addressof(anchor)
    del anchor  # a live buffer export would make mapping.close() fail
    return mapping, address


class Storage:
    """The buffer of one RKNN OrtValue and its memory objects, one per context it was imported into.

    Attributes:
        base: address of the buffer start (the mapping start; data begins at ``base + offset``).
        size: bytes of the buffer from ``base`` (``rknn_tensor_mem.size`` semantics).
        offset: where the tensor data begins.
        fd: the dma-buf fd (-1: not importable into another context).
        dmabuf: the buffer is a dma-buf (or its memfd stand-in) this process can share between contexts.
    """

    __slots__ = ("base", "size", "offset", "fd", "dmabuf", "_owns_fd", "_mapping", "_imports", "_lock",
                 "_released", "primary", "_cpu_gen", "_synced", "_escaped", "__weakref__")

    def __init__(self, *, base: int, size: int, offset: int, fd: int, owns_fd: bool,
                 mapping: Optional[mmap.mmap], dmabuf: bool) -> None:
        self.base = base
        self.size = size
        self.offset = offset
        self.fd = fd
        self.dmabuf = dmabuf
        self._owns_fd = owns_fd
        self._mapping = mapping
        self._imports: Dict[int, Tuple[ContextOwner, MemPointer]] = {}
        self._lock = threading.Lock()
        self._released = False
        self.primary: Optional[ContextOwner] = None
        # Cache state: the CPU write generation, {id(owner): (owner, generation synced TO_DEVICE there)},
        # and whether the bytes may be written outside this package (then every run syncs).
        self._cpu_gen = 0
        self._synced: Dict[int, Tuple[ContextOwner, int]] = {}
        self._escaped = False

    # ------------------------------------------------------------------ creation

    @classmethod
    def allocate(cls, owner: ContextOwner, size: int, flags: int = 0) -> Storage:
        """Runtime memory (``rknn_create_mem``) in ``owner``'s context; its fd makes it importable elsewhere.

        Raises:
            RknnMallocError: the runtime refused the allocation.
        """
        with owner.locked():
            mem = owner.allocate_locked(size, flags)
        try:
            m = mem.contents
            base = int(m.virt_addr or 0)
            if not base:
                raise InvalidArgumentError("rknn_create_mem returned memory without a CPU mapping")
            st = cls(base=base, size=int(m.size), offset=int(m.offset), fd=int(m.fd), owns_fd=False,
                     mapping=None, dmabuf=int(m.fd) >= 0)
        except BaseException:
            owner.free(mem)
            raise
        st._imports[id(owner)] = (owner, mem)
        st.primary = owner
        return st

    @classmethod
    def allocate_dmabuf(cls, size: int) -> Storage:
        """A context-free buffer: a dma-heap dma-buf on boards, a memfd elsewhere, anonymous memory last.

        Anonymous memory (no fd) works for CPU access but cannot be bound to any session.
        """
        fd = _dma_heap_alloc(size)
        if fd < 0:
            fd = _memfd_alloc(size)
        if fd < 0:
            mapping = mmap.mmap(-1, size)
            anchor = ctypes.c_char.from_buffer(mapping)
            address = ctypes.addressof(anchor)
            del anchor
            return cls(base=address, size=size, offset=0, fd=-1, owns_fd=False, mapping=mapping, dmabuf=False)
        try:
            mapping, address = _map(fd, size)
        except BaseException:
            os.close(fd)
            raise
        return cls(base=address, size=size, offset=0, fd=fd, owns_fd=True, mapping=mapping, dmabuf=True)

    @classmethod
    def from_fd(cls, fd: int, size: int, offset: int, virt_addr: Optional[int]) -> Storage:
        """Wrap a caller's dma-buf: the fd is duplicated (and owned); mapped unless ``virt_addr`` is given.

        Raises:
            InvalidArgumentError: a bad fd, size or offset, or the fd cannot be duplicated/mapped.
        """
        try:
            dup = os.dup(fd)
        except OSError as exc:
            raise InvalidArgumentError("dup dma-buf fd failed: {}".format(exc)) from None
        try:
            mapping: Optional[mmap.mmap] = None
            if virt_addr is None:
                try:
                    mapping, base = _map(dup, size)
                except (OSError, ValueError) as exc:
                    raise InvalidArgumentError("mmap dma-buf fd failed: {}".format(exc)) from None
            else:
                base = virt_addr
        except BaseException:
            os.close(dup)
            raise
        return cls(base=base, size=size, offset=offset, fd=dup, owns_fd=True, mapping=mapping, dmabuf=True)

    # ------------------------------------------------------------------ access

    @property
    def usable(self) -> int:
        """Bytes available from ``base + offset`` on."""
        return max(0, self.size - self.offset)

    @property
    def data_address(self) -> int:
        """Address of the tensor data (``base + offset``)."""
        return self.base + self.offset

    @property
    def import_count(self) -> int:
        """Contexts holding a memory object for this buffer."""
        return len(self._imports)

    def byte_view(self) -> np.ndarray:
        """A uint8 view of the usable bytes; never hand it out (it dies with the storage)."""
        if self._released:
            raise SessionClosedError("the OrtValue's memory has been released")
        return _byte_view(self.data_address, self.usable)

    def mem_in(self, owner: ContextOwner) -> Optional[MemPointer]:
        """The memory object in ``owner``'s context, if imported."""
        entry = self._imports.get(id(owner))
        return entry[1] if entry is not None and entry[0] is owner else None

    def imports(self) -> List[Tuple[ContextOwner, MemPointer]]:
        """Every (owner, memory object) pair, primary first."""
        with self._lock:
            return list(self._imports.values())

    def mem_for_locked(self, owner: ContextOwner) -> MemPointer:
        """The memory object in ``owner``'s context, importing the dma-buf on first use (owner lock held).

        Raises:
            InvalidArgumentError: no fd to import.
            RknnError: ``rknn_create_mem_from_fd`` failed.
        """
        with self._lock:
            if self._released:
                raise SessionClosedError("the OrtValue's memory has been released")
            mem = self.mem_in(owner)
            if mem is not None:
                return mem
            if self.fd < 0:
                raise InvalidArgumentError(
                    "OrtValue was allocated without dma-buf backing and cannot be imported into another RKNN "
                    "context")
            mem = owner.import_fd_locked(self.fd, self.base, self.size, self.offset)
            self._imports[id(owner)] = (owner, mem)
            return mem

    # ------------------------------------------------------------------ CPU cache state

    @property
    def escaped(self) -> bool:
        """Whether the bytes may be written outside this package (every run syncs TO_DEVICE)."""
        return self._escaped

    def mark_escaped(self) -> None:
        """The buffer's address or fd left the package (``data_ptr()``, ``memory_info()``, a caller's dma-buf):
        the CPU may write it at any time from now on, so it is synced TO_DEVICE before every run. Permanent."""
        self._escaped = True

    def mark_cpu_written(self) -> None:
        """The CPU wrote the bytes: every context must sync TO_DEVICE again. Call after the write, before the
        sync that follows it (a sync that started earlier then records an older generation)."""
        with self._lock:
            self._cpu_gen += 1

    def sync_state(self, owner: ContextOwner) -> Tuple[bool, int]:
        """``(needs a TO_DEVICE sync in owner's context, the write generation to pass to note_synced)``.

        Read before the ``rknn_mem_sync`` call, with ``owner``'s lock held.
        """
        gen = self._cpu_gen
        if self._escaped:
            return True, gen
        entry = self._synced.get(id(owner))
        return entry is None or entry[0] is not owner or entry[1] != gen, gen

    def note_synced(self, owner: ContextOwner, gen: int) -> None:
        """A ``rknn_mem_sync(TO_DEVICE)`` in ``owner``'s context succeeded; ``gen`` came from :meth:`sync_state`
        before it (``owner``'s lock held)."""
        with self._lock:
            if not self._released:
                self._synced[id(owner)] = (owner, gen)

    # ------------------------------------------------------------------ release

    def release(self) -> None:
        """Free every memory object (through its owner), then unmap and close what we own. Idempotent."""
        with self._lock:
            if self._released:
                return
            self._released = True
            entries = list(self._imports.values())
            self._imports.clear()
            self._synced.clear()
        # Imports first, the primary (whose runtime buffer the imports alias) last.
        for owner, mem in sorted(entries, key=lambda e: e[0] is self.primary):
            owner.free(mem)
        self.primary = None
        mapping, self._mapping = self._mapping, None
        if mapping is not None:
            try:
                mapping.close()
            except (BufferError, ValueError) as exc:
                _log_quietly(logging.WARNING, "could not unmap an OrtValue buffer: %s", exc)
        if self._owns_fd and self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1

