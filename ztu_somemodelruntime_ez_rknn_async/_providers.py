"""ONNX Runtime's ``providers`` / ``provider_options`` arguments: which entry is this runtime's, and its options.

Only the containers are read here (names, ``(name, dict)`` tuples, list alignment, merging); the option
values are validated by :mod:`.options`.
"""
from __future__ import annotations

from collections.abc import Mapping as _AbcMapping
from collections.abc import Set as _AbcSet
from typing import Any, Dict, List, Mapping, Optional, Tuple, cast

from typing_extensions import Final

from ._validators import as_items, closest, describe, is_bytes_like
from .errors import InvalidOptionError

__all__ = ["CPU_PROVIDER_NAME", "PROVIDER_ALIASES", "PROVIDER_NAME", "select_provider_options"]

PROVIDER_NAME: Final = "RKNPU2ExecutionProvider"
"""The canonical execution-provider name reported by ``InferenceSession.get_providers()``."""
PROVIDER_ALIASES: Final[Tuple[str, ...]] = (PROVIDER_NAME, "RKNNExecutionProvider")
"""Provider names that select this runtime in ``providers``."""
CPU_PROVIDER_NAME: Final = "CPUExecutionProvider"
"""ONNX Runtime's CPU provider: accepted in ``providers`` and ignored (this runtime only runs on the NPU)."""


def _as_option_dict(value: object, what: str) -> Mapping[Any, object]:
    if value is None:
        return {}
    if not isinstance(value, _AbcMapping):
        raise InvalidOptionError(f"{what} must be a dict of options, got {describe(value)}")
    return value


def _normalise_providers(providers: object) -> Tuple[Optional[int], Optional[str], Mapping[Any, object], int]:
    """Read ORT-style ``providers``.

    Returns:
        ``(index of our provider or None, its name or None, options from its (name, dict) tuple,
        number of entries)``.
    """
    if isinstance(providers, str) or is_bytes_like(providers):
        raise InvalidOptionError(
            f"providers must be a list of provider names or (name, options dict) tuples, "
            f"not a single string; got {describe(providers)} (did you mean [{providers!r}]?)"
        )
    if isinstance(providers, (_AbcMapping, _AbcSet)):
        raise InvalidOptionError(
            f"providers must be a list of provider names or (name, options dict) tuples, got {describe(providers)}"
        )
    entries = as_items(providers, "providers")
    if entries is None:
        raise InvalidOptionError(
            f"providers must be a list of provider names or (name, options dict) tuples, got {describe(providers)}"
        )
    accepted = ", ".join((*PROVIDER_ALIASES, CPU_PROVIDER_NAME))
    ours: Optional[int] = None
    our_name: Optional[str] = None
    our_options: Mapping[Any, object] = {}
    seen: List[str] = []
    count = 0
    for index, entry in enumerate(entries):
        count += 1
        options: Mapping[Any, object] = {}
        if isinstance(entry, str):
            name = entry
        elif isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
            name = entry[0]
            options = _as_option_dict(entry[1], f"the options of providers[{index}] ({name!r})")
        else:
            raise InvalidOptionError(
                f"providers[{index}] must be a provider name or a (name, options dict) tuple, got {describe(entry)}"
            )
        if name not in PROVIDER_ALIASES and name != CPU_PROVIDER_NAME:
            raise InvalidOptionError(
                f"Unknown execution provider: {name!r}.{closest(name, (*PROVIDER_ALIASES, CPU_PROVIDER_NAME))} "
                f"Accepted providers: {accepted}"
            )
        canonical = PROVIDER_NAME if name in PROVIDER_ALIASES else name
        if canonical in seen:
            raise InvalidOptionError(
                f"providers lists the {canonical} provider more than once (providers[{index}] = {name!r})"
            )
        seen.append(canonical)
        if canonical == PROVIDER_NAME:
            ours, our_name, our_options = index, name, options
        # CPUExecutionProvider options are accepted and ignored, like the provider itself.
    return ours, our_name, our_options, count


def select_provider_options(providers: object, provider_options: object) -> Tuple[str, Dict[Any, object]]:
    """Apply ONNX Runtime's ``providers`` / ``provider_options`` rules (see :func:`.options.parse_providers`).

    Returns:
        ``(the name this runtime is selected under, the merged options dict of this runtime)``; the
        options themselves are not validated here.

    Raises:
        InvalidOptionError: a malformed container, an unknown provider, misaligned lists, a key given twice.
    """
    our_index: Optional[int] = None
    our_name: Optional[str] = None
    tuple_options: Mapping[Any, object] = {}
    provider_count: Optional[int] = None
    if providers is not None:
        our_index, our_name, tuple_options, provider_count = _normalise_providers(providers)

    options: Mapping[Any, object]
    if provider_options is None:
        options = {}
    elif isinstance(provider_options, _AbcMapping):
        options = provider_options
    else:
        entries = as_items(provider_options, "provider_options")
        if entries is None:
            raise InvalidOptionError(
                "provider_options must be a dict or a sequence whose first element is a dict, "
                f"got {describe(provider_options)}"
            )
        for index, entry in enumerate(entries):
            if not isinstance(entry, _AbcMapping):
                raise InvalidOptionError(
                    "provider_options must be a dict or a sequence whose first element is a dict; "
                    f"provider_options[{index}] is {describe(entry)}"
                )
        if provider_count is None:
            if len(entries) > 1:
                raise InvalidOptionError(
                    f"provider_options has {len(entries)} dicts but providers is not given; pass a single dict, "
                    "or a providers list of the same length"
                )
            options = cast(Mapping[Any, object], entries[0]) if entries else {}
        else:
            if len(entries) != provider_count:
                raise InvalidOptionError(
                    f"provider_options has {len(entries)} entries but providers has {provider_count}; "
                    "they must have the same length"
                )
            options = cast(Mapping[Any, object], entries[our_index]) if our_index is not None else {}

    if tuple_options and options:
        for key in options:
            if key in tuple_options:
                raise InvalidOptionError(
                    f"provider option {key!r} is given both in providers and in provider_options; give it once"
                )
    merged: Dict[Any, object] = dict(tuple_options)
    merged.update(options)
    return our_name or PROVIDER_NAME, merged
