"""The plumbing of the ORT-style options objects: string config entries and type-checked attributes.

Shared by :class:`~.run_options.RunOptions` and :class:`~.session_options.SessionOptions`.
"""
from __future__ import annotations

from typing import Callable, Dict, Generic, Optional, TypeVar, Union, overload

from ._validators import describe
from .errors import InvalidOptionError

__all__ = ["Checked", "ConfigEntries"]

_T = TypeVar("_T")


class ConfigEntries:
    """ORT's ``add_*_config_entry`` / ``get_*_config_entry`` pair over a dict of strings."""

    __slots__ = ()
    _entries: Dict[str, str]
    _entry_owner: str = "Options"

    def _add_entry(self, key: object, value: object, method: str) -> None:
        if not isinstance(key, str):
            raise TypeError(f"{method}: key must be a str, got {describe(key)}")
        if not isinstance(value, str):
            raise TypeError(f"{method}: value must be a str, got {describe(value)}")
        self._entries[key] = value

    def _get_entry(self, key: object, method: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"{method}: key must be a str, got {describe(key)}")
        try:
            return self._entries[key]
        except KeyError:
            # ONNX Runtime raises a RuntimeError with this text for a missing entry.
            raise InvalidOptionError(
                f"{self._entry_owner} does not have configuration with key: {key}"
            ) from None


class Checked(Generic[_T]):
    """A validated attribute: stored in ``_<name>``, every assignment goes through ``check(value, name)``."""

    def __init__(self, check: Callable[[object, str], _T], doc: str) -> None:
        self._check = check
        self._name = ""
        self._attr = ""
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        self._attr = "_" + name

    @overload
    def __get__(self, obj: None, owner: Optional[type] = None) -> "Checked[_T]": ...

    @overload
    def __get__(self, obj: object, owner: Optional[type] = None) -> _T: ...

    def __get__(self, obj: object, owner: Optional[type] = None) -> "Union[_T, Checked[_T]]":
        if obj is None:
            return self
        value: _T = getattr(obj, self._attr)
        return value

    def __set__(self, obj: object, value: object) -> None:
        object.__setattr__(obj, self._attr, self._check(value, self._name))
