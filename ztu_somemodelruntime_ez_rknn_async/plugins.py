"""Custom-op plugins: find, check and load ``librkcst_*.so`` libraries, and register their ops.

A plugin is a shared library exporting ``rknn_custom_op *get_rknn_custom_op(void)`` (rknn-abi.md §6).
:func:`load_custom_op_plugins` loads explicit paths first, then (on request) the platform's default
plugin directory, and returns a :class:`CustomOpPlugins` whose :meth:`~CustomOpPlugins.register` makes
**one** ``rknn_register_custom_ops`` call per context with every op (registering op by op is broken in
the runtime: rknn-toolkit2 #538).

Security: loading a library runs its code. Every plugin file, after resolving symlinks, must be a
regular file owned by root or the current user and not writable by group or others, and so must every
directory from it up to ``/`` (directories with the sticky bit, like ``/tmp``, may be writable by others:
nobody can replace an entry they do not own there). Explicit paths must be absolute, so the current
directory is never searched; the resolved path is what gets loaded.

Lifetime rule: the runtime keeps pointers into the plugin code and the op table. The op array is pinned
by each context it is registered with (:meth:`RknnContext.register_custom_ops`); the library handles are
held by the :class:`CustomOpPlugins` object, and ctypes never unloads a library. A session must destroy
its contexts before it drops its ``CustomOpPlugins``.

Contexts with custom ops must be created with ``rknn_init``, never ``rknn_dup_context`` (known runtime
instability); the session applies that and warns with :data:`DUP_CONTEXT_WARNING`.
"""
from __future__ import annotations

import ctypes
import logging
import os
import stat
import sys
import warnings
import weakref
from ctypes import POINTER
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Union

from ._abi import rknn_custom_op
from .errors import InvalidOptionError

if TYPE_CHECKING:
    from ._context import RknnContext

__all__ = [
    "ANDROID_PLUGIN_DIR_32",
    "ANDROID_PLUGIN_DIR_64",
    "DEFAULT_PLUGIN_DIR",
    "DUP_CONTEXT_WARNING",
    "PLUGIN_PREFIX",
    "CustomOpPlugin",
    "CustomOpPluginError",
    "CustomOpPlugins",
    "PluginPermissionError",
    "default_plugin_dir",
    "load_custom_op_plugins",
]

logger = logging.getLogger(__name__)

#: Default plugin directory on Linux boards (rknn-abi.md §6). Read at call time (tests monkeypatch it).
DEFAULT_PLUGIN_DIR = "/usr/lib/rknpu/op_plugins/"
#: Default plugin directories on Android (64-bit and 32-bit processes).
ANDROID_PLUGIN_DIR_64 = "/vendor/lib64/"
ANDROID_PLUGIN_DIR_32 = "/vendor/lib/"
#: Only files named ``librkcst_*.so`` in the default directory are plugins.
PLUGIN_PREFIX = "librkcst_"
PLUGIN_SUFFIX = ".so"
#: The UserWarning a session emits when custom ops make it create every context with rknn_init.
DUP_CONTEXT_WARNING = (
    "Custom op loading requested; dup_context is disabled for this session to avoid known RKNN stability issues."
)
_SYMBOL = "get_rknn_custom_op"
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH

PathLike = Union[str, "os.PathLike[str]"]


class CustomOpPluginError(RuntimeError):
    """A plugin could not be loaded or registered (the message names the file)."""


class PluginPermissionError(CustomOpPluginError, PermissionError):
    """A plugin file or one of its directories could be modified by someone else; it was not loaded."""

    def __str__(self) -> str:
        # PermissionError's OSError base would otherwise format errno/strerror.
        return str(self.args[0]) if self.args else ""


def _is_android() -> bool:
    return "ANDROID_ROOT" in os.environ or hasattr(sys, "getandroidapilevel")


def default_plugin_dir() -> str:
    """The platform's default plugin directory (Linux or Android, 64-/32-bit)."""
    if _is_android():
        return ANDROID_PLUGIN_DIR_64 if ctypes.sizeof(ctypes.c_void_p) == 8 else ANDROID_PLUGIN_DIR_32
    return DEFAULT_PLUGIN_DIR


def _trusted_owner(uid: int) -> bool:
    return uid == 0 or uid == os.getuid()


def check_plugin_path(path: str) -> str:
    """Resolve ``path`` and check the file and every directory above it; returns the resolved path.

    Raises:
        CustomOpPluginError: the file does not exist or is not a regular file.
        PluginPermissionError: the file or a directory is owned by another user, or writable by group or
            others (directories with the sticky bit excepted).
    """
    resolved = os.path.realpath(path)
    try:
        st = os.stat(resolved)
    except OSError as exc:
        raise CustomOpPluginError("custom op plugin {} cannot be read: {}".format(path, exc.strerror)) from None
    shown = path if resolved == path else "{} (resolved to {})".format(path, resolved)
    if not stat.S_ISREG(st.st_mode):
        raise CustomOpPluginError("custom op plugin {} is not a regular file".format(shown))
    if not _trusted_owner(st.st_uid):
        raise PluginPermissionError("refusing custom op plugin {}: owned by uid {}, not by root or the current "
                                    "user".format(shown, st.st_uid))
    if st.st_mode & _WRITABLE_BY_OTHERS:
        raise PluginPermissionError("refusing custom op plugin {}: the file is writable by group or others "
                                    "(mode {:o}); run chmod go-w on it".format(shown, stat.S_IMODE(st.st_mode)))
    directory = os.path.dirname(resolved)
    while True:
        _check_directory(directory, shown)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return resolved


def _check_directory(directory: str, shown: str) -> None:
    try:
        st = os.stat(directory)
    except OSError as exc:
        raise CustomOpPluginError("custom op plugin {}: directory {} cannot be read: {}".format(
            shown, directory, exc.strerror)) from None
    if not _trusted_owner(st.st_uid):
        raise PluginPermissionError("refusing custom op plugin {}: directory {} is owned by uid {}, not by root "
                                    "or the current user".format(shown, directory, st.st_uid))
    if st.st_mode & _WRITABLE_BY_OTHERS and not st.st_mode & stat.S_ISVTX:
        # Anyone allowed to write here could swap the library between this check and the load.
        raise PluginPermissionError("refusing custom op plugin {}: directory {} is writable by group or others "
                                    "(mode {:o})".format(shown, directory, stat.S_IMODE(st.st_mode)))


class CustomOpPlugin:
    """One loaded plugin: its path, the library, and a by-value copy of its ``rknn_custom_op``.

    Attributes:
        path: the path as given (explicit) or found (default directory).
        resolved_path: the file actually loaded.
        op: the copied op description.
        op_type / version / target: the op's key.
    """

    __slots__ = ("path", "resolved_path", "op", "op_type", "version", "target", "_cdll")

    def __init__(self, path: str, resolved_path: str, cdll: ctypes.CDLL, op: rknn_custom_op) -> None:
        self.path = path
        self.resolved_path = resolved_path
        self._cdll = cdll  # keeps the library's handle referenced for as long as the op is in use
        self.op = op
        self.op_type = op.op_type.decode("utf-8", "replace")
        self.version = int(op.version)
        self.target = int(op.target)

    @property
    def key(self) -> Tuple[str, int, int]:
        """``(op_type, version, target)``: two plugins may not share it."""
        return (self.op_type, self.version, self.target)

    def __repr__(self) -> str:
        return "<CustomOpPlugin {} op_type={!r} version={} target={}>".format(
            self.path, self.op_type, self.version, self.target)


def _load_one(path: str) -> CustomOpPlugin:
    resolved = check_plugin_path(path)
    try:
        cdll = ctypes.CDLL(resolved, mode=os.RTLD_NOW | getattr(os, "RTLD_LOCAL", 0))
    except OSError as exc:
        # ctypes reports this dlopen's own error text, never a stale dlerror() (peer bug §21.1-15).
        raise CustomOpPluginError("dlopen {} fail: {}".format(path, exc)) from None
    try:
        getter = getattr(cdll, _SYMBOL)
    except AttributeError as exc:
        raise CustomOpPluginError("dlsym fail for {}: {}".format(_SYMBOL, exc)) from None
    getter.argtypes = []
    getter.restype = POINTER(rknn_custom_op)
    ptr = getter()
    if not ptr:
        raise CustomOpPluginError("{} returned null ({})".format(_SYMBOL, path))
    # Copied by value: the plugin's static struct is not ours to keep pointing at.
    op = rknn_custom_op.from_buffer_copy(ptr.contents)
    if not op.op_type:
        raise CustomOpPluginError("custom op plugin {} declares an empty op_type".format(path))
    if not op.compute:
        raise CustomOpPluginError("custom op plugin {} ({}) has no compute callback".format(
            path, op.op_type.decode("utf-8", "replace")))
    return CustomOpPlugin(path, resolved, cdll, op)


class CustomOpPlugins:
    """The loaded plugins and their op table, registered once per context.

    Attributes:
        plugins: in load order (explicit paths as given, then the default directory sorted by name).
    """

    def __init__(self, plugins: Sequence[CustomOpPlugin] = ()) -> None:
        self.plugins: List[CustomOpPlugin] = list(plugins)
        n = len(self.plugins)
        self._ops = (rknn_custom_op * max(n, 1))()
        for i, p in enumerate(self.plugins):
            self._ops[i] = p.op
        self._registered: "weakref.WeakSet[RknnContext]" = weakref.WeakSet()

    def __len__(self) -> int:
        return len(self.plugins)

    def __bool__(self) -> bool:
        return bool(self.plugins)

    @property
    def op_types(self) -> List[str]:
        """The op types, in load order."""
        return [p.op_type for p in self.plugins]

    def register(self, context: RknnContext) -> None:
        """``rknn_register_custom_ops`` on ``context`` with every op in one call; nothing if there are none.

        The op array stays pinned by the context until it is destroyed.

        Raises:
            CustomOpPluginError: ops were already registered on this context.
            RknnError: the runtime refused the ops.
        """
        if not self.plugins:
            return
        if context in self._registered:
            raise CustomOpPluginError("Custom ops have already been registered for this context")
        context.register_custom_ops(self._ops, len(self.plugins))
        self._registered.add(context)

    def __repr__(self) -> str:
        return "<CustomOpPlugins {}>".format(self.op_types)


def _add(found: List[CustomOpPlugin], seen: Dict[Tuple[str, int, int], str], plugin: CustomOpPlugin) -> None:
    other = seen.get(plugin.key)
    if other is not None:
        raise CustomOpPluginError(
            "Duplicate custom op definition detected: {} (version={}, target={}) from {} (already loaded from "
            "{})".format(plugin.op_type, plugin.version, plugin.target, plugin.path, other))
    seen[plugin.key] = plugin.path
    found.append(plugin)


def load_custom_op_plugins(paths: Sequence[PathLike], use_default_dir: bool) -> CustomOpPlugins:
    """Load explicit plugins, then (if asked) every ``librkcst_*.so`` of the default directory, sorted.

    Args:
        paths: absolute paths of plugin libraries, loaded in this order.
        use_default_dir: also scan :func:`default_plugin_dir` (a missing directory only warns; a library
            there that fails to load warns and is skipped; a permission problem is an error).

    Raises:
        InvalidOptionError: a path is not absolute (the current directory is never searched).
        PluginPermissionError: a plugin or a directory above it is not trustworthy.
        CustomOpPluginError: an explicit plugin failed to load, or two plugins define the same op.
    """
    found: List[CustomOpPlugin] = []
    seen: Dict[Tuple[str, int, int], str] = {}
    for raw in paths:
        path = os.fspath(raw)
        if not isinstance(path, str) or not path or "\0" in path:
            raise InvalidOptionError("custom op plugin path must be a non-empty str, got {!r}".format(raw))
        if not os.path.isabs(path):
            raise InvalidOptionError(
                "custom op plugin path must be absolute, got {!r}: relative paths are refused so that the current "
                "directory and the library search path are never searched".format(path))
        _add(found, seen, _load_one(path))
    if use_default_dir:
        directory = default_plugin_dir()
        if not os.path.isdir(directory):
            warnings.warn("Default plugin directory does not exist: {}".format(directory), UserWarning, stacklevel=2)
        else:
            # Sorted, unlike the peer (bug §21.1-17): the load order (and a duplicate's winner) is reproducible.
            for filename in sorted(os.listdir(directory)):
                if not (filename.startswith(PLUGIN_PREFIX) and filename.endswith(PLUGIN_SUFFIX)):
                    continue
                full = os.path.join(directory, filename)
                if not os.path.isfile(full):
                    continue
                try:
                    plugin = _load_one(full)
                except PluginPermissionError:
                    raise
                except CustomOpPluginError as exc:
                    warnings.warn("Failed to load plugin {}: {}".format(filename, exc), UserWarning, stacklevel=2)
                    continue
                _add(found, seen, plugin)
    if found:
        logger.info("custom op plugins loaded: %s", ", ".join("{} ({})".format(p.op_type, p.path) for p in found))
    return CustomOpPlugins(found)
