"""Provider, run and session options: accepted spellings, normalisation, and every rejection."""
from __future__ import annotations

import dataclasses
import inspect
import os
import pathlib
from typing import Any, Dict, List, Optional, Tuple

import pytest

from ztu_somemodelruntime_ez_rknn_async import options as opts
from ztu_somemodelruntime_ez_rknn_async.errors import InvalidOptionError
from ztu_somemodelruntime_ez_rknn_async.options import (
    PROVIDER_OPTION_KEYS,
    RUN_OPTION_KEYS,
    ExecutionMode,
    GraphOptimizationLevel,
    ProviderConfig,
    RunConfig,
    RunOptions,
    SessionConfig,
    SessionOptions,
    make_provider_options,
    parse_mem_flags,
    parse_provider_options,
    parse_providers,
    parse_run_options,
    parse_session_options,
)

PEER_KEYS = (
    "layout, zero_copy_layout, max_queue_size, threads_per_core, submit_timeout_ms, sequential_callbacks, "
    "schedule, tp_mode, enable_pacing, disable_dup_context, custom_op_path, custom_op_paths, "
    "custom_op_default_path, load_custom_ops_from_default_path"
)


def expect_invalid(func: Any, *args: Any, match: Tuple[str, ...] = ()) -> InvalidOptionError:
    """Call *func*, assert it raises InvalidOptionError (a RuntimeError and a ValueError) naming *match*."""
    with pytest.raises(InvalidOptionError) as info:
        func(*args)
    error = info.value
    assert isinstance(error, RuntimeError)
    assert isinstance(error, ValueError)
    for text in match:
        assert text in str(error), f"{text!r} not in {str(error)!r}"
    return error


class Unrepresentable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BytesPath:
    def __fspath__(self) -> bytes:
        return b"/tmp/x.so"


class BrokenPath(os.PathLike):  # type: ignore[type-arg]
    def __fspath__(self) -> str:
        raise OSError("broken")


# --------------------------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------------------------


def test_defaults_match_the_documented_ones() -> None:
    config = parse_provider_options(None)
    assert config == ProviderConfig()
    assert config == ProviderConfig(
        layout="nchw",
        zero_copy_layout="nhwc",
        max_queue_size=3,
        threads_per_core=1,
        submit_timeout_ms=10000,
        sequential_callbacks=True,
        schedule=None,
        tp_mode=None,
        core_mask=0,
        enable_pacing=False,
        disable_dup_context=False,
        custom_op_paths=(),
        custom_op_default_path=False,
        runtime_library=None,
        native_outputs=False,
        run_timeout_ms=None,
        callback_backlog=8,
        providers=("RKNPU2ExecutionProvider",),
    )
    assert not config.uses_custom_ops
    assert config.provider_name == "RKNPU2ExecutionProvider"


@pytest.mark.parametrize(
    "container",
    [None, {}, [], (), [{}], ({},)],
    ids=["none", "empty-dict", "empty-list", "empty-tuple", "list-of-empty-dict", "tuple-of-empty-dict"],
)
def test_empty_containers_give_defaults(container: object) -> None:
    assert parse_provider_options(container) == ProviderConfig()


def test_sequence_whose_first_element_is_the_dict() -> None:
    assert parse_provider_options([{"max_queue_size": 5}]).max_queue_size == 5
    assert parse_provider_options(({"max_queue_size": 5},)).max_queue_size == 5


def test_dict_subclass_accepted() -> None:
    class Options(dict):  # type: ignore[type-arg]
        pass

    assert parse_provider_options(Options(layout="nhwc")).layout == "nhwc"


def test_config_is_frozen_and_hashable() -> None:
    config = parse_provider_options({"schedule": "0,1"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.layout = "nhwc"  # type: ignore[misc]
    assert hash(config) == hash(parse_provider_options({"schedule": [0, 1]}))


# --------------------------------------------------------------------------------------------------------
# Valid spellings normalise identically
# --------------------------------------------------------------------------------------------------------

VALID_SPELLINGS: List[Tuple[str, object, str, object]] = [
    # (key, given value, config field, normalised value)
    ("layout", "nchw", "layout", "nchw"),
    ("layout", "NCHW", "layout", "nchw"),
    ("layout", "original", "layout", "nchw"),
    ("layout", " Original ", "layout", "nchw"),
    ("layout", "nchw_software", "layout", "nchw_software"),
    ("layout", "original_software", "layout", "nchw_software"),
    ("layout", "ORIGINAL_SOFTWARE", "layout", "nchw_software"),
    ("layout", "nhwc", "layout", "nhwc"),
    ("layout", "any", "layout", "any"),
    ("zero_copy_layout", "nhwc", "zero_copy_layout", "nhwc"),
    ("zero_copy_layout", "NATIVE", "zero_copy_layout", "native"),
    ("zero_copy_layout", " native\n", "zero_copy_layout", "native"),
    ("max_queue_size", 7, "max_queue_size", 7),
    ("max_queue_size", "7", "max_queue_size", 7),
    ("max_queue_size", " +7 ", "max_queue_size", 7),
    ("max_queue_size", 1_000_000, "max_queue_size", 1_000_000),
    ("threads_per_core", 16, "threads_per_core", 16),
    ("threads_per_core", "2", "threads_per_core", 2),
    ("submit_timeout_ms", 1, "submit_timeout_ms", 1),
    ("submit_timeout_ms", "2500", "submit_timeout_ms", 2500),
    ("callback_backlog", 1, "callback_backlog", 1),
    ("callback_backlog", "64", "callback_backlog", 64),
    ("run_timeout_ms", None, "run_timeout_ms", None),
    ("run_timeout_ms", 500, "run_timeout_ms", 500),
    ("run_timeout_ms", "500", "run_timeout_ms", 500),
    ("schedule", 0, "schedule", (0,)),
    ("schedule", 2, "schedule", (2,)),
    ("schedule", "1", "schedule", (1,)),
    ("schedule", "0,1,2", "schedule", (0, 1, 2)),
    ("schedule", "[0, 1, 2]", "schedule", (0, 1, 2)),
    ("schedule", "0 1 2", "schedule", (0, 1, 2)),
    ("schedule", " [0,0, 1] ", "schedule", (0, 0, 1)),
    ("schedule", [0, 1, 2], "schedule", (0, 1, 2)),
    ("schedule", (2, 1), "schedule", (2, 1)),
    ("schedule", ["0", " 1 ", 2], "schedule", (0, 1, 2)),
    ("schedule", range(3), "schedule", (0, 1, 2)),
    ("schedule", None, "schedule", None),
    ("tp_mode", None, "tp_mode", None),
    ("tp_mode", "auto", "tp_mode", "auto"),
    ("tp_mode", "AUTO", "tp_mode", "auto"),
    ("tp_mode", " All ", "tp_mode", "all"),
    ("tp_mode", "0", "tp_mode", "0"),
    ("tp_mode", "1", "tp_mode", "1"),
    ("tp_mode", "2", "tp_mode", "2"),
    ("tp_mode", "0,1", "tp_mode", "0,1"),
    ("tp_mode", "\t0,1,2 ", "tp_mode", "0,1,2"),
    ("custom_op_path", "/a.so", "custom_op_paths", ("/a.so",)),
    ("custom_op_path", pathlib.Path("/a.so"), "custom_op_paths", ("/a.so",)),
    ("custom_op_paths", ["/a.so", pathlib.Path("/b.so")], "custom_op_paths", ("/a.so", "/b.so")),
    ("custom_op_paths", ("/a.so",), "custom_op_paths", ("/a.so",)),
    ("custom_op_paths", [], "custom_op_paths", ()),
    ("custom_op_paths", None, "custom_op_paths", ()),
    ("custom_op_default_path", True, "custom_op_default_path", True),
    ("load_custom_ops_from_default_path", "yes", "custom_op_default_path", True),
    ("runtime_library", None, "runtime_library", None),
    ("runtime_library", "simulator", "runtime_library", "simulator"),
    ("runtime_library", "/usr/lib/librknnrt.so", "runtime_library", "/usr/lib/librknnrt.so"),
    ("runtime_library", pathlib.Path("/usr/lib/librknnrt.so"), "runtime_library", "/usr/lib/librknnrt.so"),
]
BOOL_KEYS = ("sequential_callbacks", "enable_pacing", "disable_dup_context", "native_outputs", "custom_op_default_path")
TRUE_SPELLINGS: List[object] = [True, 1, "1", "true", "TRUE", " True ", "on", "ON", "yes", "Yes\n"]
FALSE_SPELLINGS: List[object] = [False, 0, "0", "false", "FALSE", " False ", "off", "Off", "no", "\tNO"]
for _key in BOOL_KEYS:
    VALID_SPELLINGS += [(_key, value, _key, True) for value in TRUE_SPELLINGS]
    VALID_SPELLINGS += [(_key, value, _key, False) for value in FALSE_SPELLINGS]


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    VALID_SPELLINGS,
    ids=[f"{key}={value!r}" for key, value, _, _ in VALID_SPELLINGS],
)
def test_valid_spelling_is_normalised(key: str, value: object, field: str, expected: object) -> None:
    config = parse_provider_options({key: value})
    assert getattr(config, field) == expected
    assert type(getattr(config, field)) is type(expected)
    # Everything else keeps its default.
    others = {f.name for f in dataclasses.fields(ProviderConfig)} - {field, "core_mask"}
    for name in others:
        assert getattr(config, name) == getattr(ProviderConfig(), name), name


@pytest.mark.parametrize(
    ("mode", "mask"),
    [("auto", 0), ("all", 0xFFFF), ("0", 1), ("1", 2), ("2", 4), ("0,1", 3), ("0,1,2", 7), (None, 0)],
)
def test_tp_mode_core_masks(mode: Optional[str], mask: int) -> None:
    assert parse_provider_options({"tp_mode": mode}).core_mask == mask
    assert opts.TP_MODE_CORE_MASKS.get(mode or "auto") == mask


def test_schedule_mode_keeps_core_mask_auto() -> None:
    assert parse_provider_options({"schedule": "0,1"}).core_mask == 0


def test_custom_op_path_aliases_both_append_in_order() -> None:
    config = parse_provider_options({"custom_op_path": "/a.so", "custom_op_paths": ["/b.so", "/c.so"]})
    assert config.custom_op_paths == ("/a.so", "/b.so", "/c.so")
    assert config.uses_custom_ops


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("custom_op_default_path", "load_custom_ops_from_default_path", False),
        ("load_custom_ops_from_default_path", "custom_op_default_path", False),
    ],
)
def test_default_path_aliases_last_one_wins(first: str, second: str, expected: bool) -> None:
    assert parse_provider_options({first: True, second: False}).custom_op_default_path is expected
    assert parse_provider_options({first: False, second: True}).custom_op_default_path is (not expected)


def test_numpy_integers_are_int_like() -> None:
    np = pytest.importorskip("numpy")
    config = parse_provider_options({"max_queue_size": np.int64(4), "schedule": np.array([0, 2])})
    assert config.max_queue_size == 4 and type(config.max_queue_size) is int
    assert config.schedule == (0, 2)
    assert parse_provider_options({"enable_pacing": np.bool_(True)}).enable_pacing is True


# --------------------------------------------------------------------------------------------------------
# Invalid values: one row per key x bad type / bad value
# --------------------------------------------------------------------------------------------------------

INVALID: List[Tuple[str, Dict[Any, Any], Tuple[str, ...]]] = [
    # layout
    ("layout-int", {"layout": 1}, ("layout must be a string", "nchw", "got 1 (type int)")),
    ("layout-none", {"layout": None}, ("layout must be a string", "(type NoneType)")),
    ("layout-bytes", {"layout": b"nchw"}, ("layout must be a string", "(type bytes)")),
    ("layout-unknown", {"layout": "NCWH"}, ("Unknown layout: NCWH", "expected one of", "nchw_software")),
    ("layout-empty", {"layout": ""}, ("Unknown layout: ", "expected one of")),
    # zero_copy_layout
    ("zero_copy_layout-int", {"zero_copy_layout": 0}, ("zero_copy_layout must be a string", "native")),
    (
        "zero_copy_layout-unknown",
        {"zero_copy_layout": "nchw"},
        ("Unknown zero_copy_layout: nchw, expected 'nhwc' or 'native'",),
    ),
    # int-likes
    *[
        (f"{key}-{label}", {key: value}, (key, expected))
        for key in ("max_queue_size", "threads_per_core", "submit_timeout_ms", "callback_backlog", "run_timeout_ms")
        for label, value, expected in [
            ("zero", 0, "must be > 0, got 0 (type int)"),
            ("negative", -1, "must be > 0, got -1 (type int)"),
            ("negative-str", "-3", "must be > 0, got '-3' (type str)"),
            ("bool-true", True, "booleans are not accepted for numeric options, got True (type bool)"),
            ("bool-false", False, "booleans are not accepted"),
            ("float", 1.5, "must be an integer (an int or a base-10 integer string), got 1.5 (type float)"),
            ("integral-float", 2.0, "got 2.0 (type float)"),
            ("float-str", "5.0", "must be an integer"),
            ("hex-str", "0x10", "must be an integer"),
            ("empty-str", "", "must be an integer"),
            ("words", "five", "got 'five' (type str)"),
            ("list", [1], "got [1] (type list)"),
            ("bytes", b"1", "(type bytes)"),
            ("huge", 10**30, "must be <="),
            ("huge-str", "9" * 5000, "must be <="),
            ("huge-negative-str", "-" + "9" * 5000, "must be > 0"),
        ]
    ],
    *[
        (f"{key}-none", {key: None}, (key, "must be an integer", "None (type NoneType)"))
        for key in ("max_queue_size", "threads_per_core", "submit_timeout_ms", "callback_backlog")
    ],
    ("threads_per_core-above-16", {"threads_per_core": 17}, ("threads_per_core must be <= 16, got 17",)),
    ("max_queue_size-above-bound", {"max_queue_size": 1_000_001}, ("max_queue_size must be <= 1000000",)),
    ("submit_timeout_ms-above-int32", {"submit_timeout_ms": 2**31}, ("submit_timeout_ms must be <= 2147483647",)),
    # bool-likes
    *[
        (f"{key}-{label}", {key: value}, (f"{key} must be a boolean", "true", "off", expected))
        for key in BOOL_KEYS + ("load_custom_ops_from_default_path",)
        for label, value, expected in [
            ("int-2", 2, "got 2 (type int)"),
            ("int-minus-1", -1, "got -1 (type int)"),
            ("float", 1.0, "got 1.0 (type float)"),
            ("none", None, "got None (type NoneType)"),
            ("word", "maybe", "got 'maybe' (type str)"),
            ("empty", "", "got '' (type str)"),
            ("list", [True], "(type list)"),
            ("bytes", b"1", "(type bytes)"),
        ]
    ],
    # schedule
    ("schedule-bool", {"schedule": True}, ("schedule must be", "booleans are not accepted", "True (type bool)")),
    ("schedule-negative", {"schedule": -1}, ("schedule values must be >= 0, got -1",)),
    ("schedule-negative-in-str", {"schedule": "0,-1"}, ("schedule values must be >= 0, got '-1'",)),
    ("schedule-core-3", {"schedule": 3}, ("schedule values must be NPU core indices 0, 1 or 2", "got 3")),
    ("schedule-core-3-in-list", {"schedule": [0, 3]}, ("NPU core indices 0, 1 or 2", "at most 3 cores")),
    ("schedule-core-big-in-str", {"schedule": "0 1 99"}, ("NPU core indices", "got '99'")),
    ("schedule-huge-in-str", {"schedule": "1" * 5000}, ("NPU core indices", "...")),
    ("schedule-empty-str", {"schedule": ""}, ("schedule must not be empty",)),
    ("schedule-blank-str", {"schedule": " [ , ] "}, ("schedule must not be empty",)),
    ("schedule-empty-list", {"schedule": []}, ("schedule must not be empty",)),
    ("schedule-word", {"schedule": "zero"}, ("schedule must contain integers", "'zero'")),
    ("schedule-float-str", {"schedule": "0.5"}, ("schedule must contain integers", "'0.5'")),
    ("schedule-float", {"schedule": 1.0}, ("schedule must be an integer, a string", "1.0 (type float)")),
    ("schedule-float-item", {"schedule": [0, 1.0]}, ("schedule must contain integers", "at index 1")),
    ("schedule-bool-item", {"schedule": [0, True]}, ("schedule must contain integers", "True (type bool)")),
    ("schedule-none-item", {"schedule": [None]}, ("schedule must contain integers", "at index 0")),
    ("schedule-dict", {"schedule": {0: 1}}, ("schedule must be an integer, a string", "(type dict)")),
    ("schedule-set", {"schedule": {0, 1}}, ("schedule must be", "(type set)")),
    ("schedule-bytes", {"schedule": b"\x00\x01"}, ("schedule must be", "bytes are not accepted")),
    # tp_mode
    ("tp_mode-int", {"tp_mode": 0}, ("tp_mode must be a string", "auto, all, 0, 1, 2, 0,1, 0,1,2", "(type int)")),
    ("tp_mode-list", {"tp_mode": ["0"]}, ("tp_mode must be a string", "(type list)")),
    (
        "tp_mode-space",
        {"tp_mode": "0, 1"},
        ("invalid tp_mode: '0, 1', expected one of: auto, all, 0, 1, 2, 0,1, 0,1,2",),
    ),
    ("tp_mode-unknown", {"tp_mode": " Fast "}, ("invalid tp_mode: 'fast', expected one of:",)),
    ("tp_mode-core-3", {"tp_mode": "3"}, ("invalid tp_mode: '3'",)),
    # both
    (
        "schedule-and-tp_mode",
        {"schedule": "0", "tp_mode": "all"},
        ("provider_options 'tp_mode' conflicts with 'schedule'; set only one.",),
    ),
    (
        "tp_mode-and-schedule",
        {"tp_mode": "auto", "schedule": [1]},
        ("provider_options 'tp_mode' conflicts with 'schedule'; set only one.",),
    ),
    # custom op paths
    ("custom_op_path-bytes", {"custom_op_path": b"/a.so"}, ("custom_op_path", "bytes paths are not supported")),
    (
        "custom_op_paths-bytes-item",
        {"custom_op_paths": ["/a.so", b"/b.so"]},
        ("custom_op_paths[1]", "bytes paths are not supported"),
    ),
    (
        "custom_op_path-fspath-bytes",
        {"custom_op_path": BytesPath()},
        ("custom_op_path", "bytes paths are not supported", "__fspath__ returned b'/tmp/x.so'"),
    ),
    ("custom_op_path-broken-fspath", {"custom_op_path": BrokenPath()}, ("custom_op_path", "os.fspath() failed")),
    ("custom_op_path-int", {"custom_op_path": 3}, ("custom_op_path must be a path-like object or sequence",)),
    ("custom_op_paths-dict", {"custom_op_paths": {"a": 1}}, ("custom_op_paths must be a path-like", "(type dict)")),
    ("custom_op_paths-int-item", {"custom_op_paths": [3]}, ("custom_op_paths[0] must be a path-like object",)),
    ("custom_op_path-empty", {"custom_op_path": ""}, ("custom_op_path must not be an empty path",)),
    ("custom_op_path-nul", {"custom_op_path": "/a\x00.so"}, ("custom_op_path must not contain a NUL",)),
    # runtime_library
    ("runtime_library-int", {"runtime_library": 1}, ("runtime_library must be a path-like object or string",)),
    ("runtime_library-bytes", {"runtime_library": b"/x.so"}, ("runtime_library", "bytes paths are not supported")),
    ("runtime_library-empty", {"runtime_library": ""}, ("runtime_library must not be an empty path",)),
    ("runtime_library-list", {"runtime_library": ["/x.so"]}, ("runtime_library must be a path-like object",)),
    # keys
    ("key-int", {1: 2}, ("provider_options keys must be strings", "1 (type int)")),
    ("key-none", {None: 2}, ("provider_options keys must be strings", "None (type NoneType)")),
    ("key-unknown", {"scheduel": "0"}, ("Unknown provider_options key: scheduel.", "Did you mean 'schedule'?")),
    ("key-case", {"Layout": "nchw"}, ("Unknown provider_options key: Layout.", "Did you mean 'layout'?")),
    ("key-unrepresentable-value", {"layout": Unrepresentable()}, ("layout must be a string", "<unrepresentable>")),
]


@pytest.mark.parametrize(
    ("options", "match"), [(o, m) for _, o, m in INVALID], ids=[case_id for case_id, _, _ in INVALID]
)
def test_invalid_option_is_rejected(options: Dict[Any, Any], match: Tuple[str, ...]) -> None:
    expect_invalid(parse_provider_options, options, match=match)


def test_invalid_table_covers_every_key() -> None:
    covered = {key for _, options, _ in INVALID for key in options if isinstance(key, str)}
    assert covered >= set(PROVIDER_OPTION_KEYS)


def test_first_bad_key_in_order_wins() -> None:
    expect_invalid(parse_provider_options, {"max_queue_size": 0, "layout": 1}, match=("max_queue_size",))
    expect_invalid(parse_provider_options, {"layout": 1, "max_queue_size": 0}, match=("layout",))


def test_unknown_key_lists_every_accepted_key() -> None:
    error = expect_invalid(parse_provider_options, {"bogus": 1}, match=("Unknown provider_options key: bogus.",))
    message = str(error)
    assert message.endswith("Supported keys: " + ", ".join(PROVIDER_OPTION_KEYS))
    assert PEER_KEYS in message
    for key in PROVIDER_OPTION_KEYS:
        assert key in message
    assert "Did you mean" not in message  # nothing close to "bogus"


def test_unknown_key_wins_over_a_later_valid_key_and_is_found_at_construction() -> None:
    expect_invalid(parse_provider_options, {"layout": "nhwc", "queue_size": 2}, match=("'max_queue_size'",))


# --------------------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------------------

BAD_CONTAINERS: List[Tuple[str, object, Tuple[str, ...]]] = [
    ("str", "abc", ("provider_options must be a dict or a sequence", "'abc' (type str)")),
    ("empty-str", "", ("provider_options must be a dict or a sequence", "(type str)")),
    ("bytes", b"ab", ("provider_options must be a dict", "(type bytes)")),
    ("int", 3, ("provider_options must be a dict", "3 (type int)")),
    ("list-of-none", [None], ("provider_options[0] is None (type NoneType)",)),
    ("list-of-str", ["layout"], ("provider_options[0] is 'layout'",)),
    ("dict-then-junk", [{}, 3], ("provider_options[1] is 3",)),
    ("two-dicts-without-providers", [{}, {"layout": "nhwc"}], ("2 dicts but providers is not given",)),
    ("set", {"layout"}, ("provider_options must be a dict", "(type set)")),
]


@pytest.mark.parametrize(
    ("container", "match"), [(c, m) for _, c, m in BAD_CONTAINERS], ids=[i for i, _, _ in BAD_CONTAINERS]
)
def test_bad_container_is_rejected(container: object, match: Tuple[str, ...]) -> None:
    expect_invalid(parse_provider_options, container, match=match)


# --------------------------------------------------------------------------------------------------------
# providers (ONNX Runtime conventions)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("providers", "name"),
    [
        (None, "RKNPU2ExecutionProvider"),
        ([], "RKNPU2ExecutionProvider"),
        (["RKNPU2ExecutionProvider"], "RKNPU2ExecutionProvider"),
        (("RKNNExecutionProvider",), "RKNNExecutionProvider"),
        (["RKNPU2ExecutionProvider", "CPUExecutionProvider"], "RKNPU2ExecutionProvider"),
        (["CPUExecutionProvider", "RKNNExecutionProvider"], "RKNNExecutionProvider"),
        (["CPUExecutionProvider"], "RKNPU2ExecutionProvider"),
        ([("RKNPU2ExecutionProvider", {})], "RKNPU2ExecutionProvider"),
        ([("CPUExecutionProvider", {"arena": "1"})], "RKNPU2ExecutionProvider"),
    ],
    ids=["none", "empty", "ours", "alias", "ours-then-cpu", "cpu-then-alias", "cpu-only", "tuple", "cpu-tuple"],
)
def test_providers_are_normalised(providers: object, name: str) -> None:
    config = parse_providers(providers)
    assert config.providers == (name,)
    assert config == dataclasses.replace(ProviderConfig(), providers=(name,))


def test_options_from_tuple_and_aligned_list_are_merged() -> None:
    config = parse_providers(
        [("RKNNExecutionProvider", {"tp_mode": "all"}), "CPUExecutionProvider"],
        [{"layout": "nhwc"}, {"ignored": "x"}],
    )
    assert (config.tp_mode, config.core_mask, config.layout) == ("all", 0xFFFF, "nhwc")


def test_aligned_list_picks_our_entry() -> None:
    config = parse_providers(["CPUExecutionProvider", "RKNPU2ExecutionProvider"], [{}, {"max_queue_size": 9}])
    assert config.max_queue_size == 9


def test_provider_options_dict_applies_to_us_with_providers() -> None:
    config = parse_providers(["CPUExecutionProvider", "RKNPU2ExecutionProvider"], {"max_queue_size": 9})
    assert config.max_queue_size == 9


def test_tuple_options_alone() -> None:
    config = parse_providers([("RKNPU2ExecutionProvider", {"schedule": "0,1"})])
    assert config.schedule == (0, 1)


BAD_PROVIDERS: List[Tuple[str, object, object, Tuple[str, ...]]] = [
    ("str", "RKNPU2ExecutionProvider", None, ("not a single string", "did you mean ['RKNPU2ExecutionProvider']?")),
    ("int", 1, None, ("providers must be a list", "(type int)")),
    ("dict", {"RKNPU2ExecutionProvider": {}}, None, ("providers must be a list", "(type dict)")),
    (
        "unknown-name",
        ["CUDAExecutionProvider"],
        None,
        ("Unknown execution provider: 'CUDAExecutionProvider'", "Accepted providers: RKNPU2ExecutionProvider, "
         "RKNNExecutionProvider, CPUExecutionProvider"),
    ),
    ("typo", ["RKNPU2ExecutionProvder"], None, ("Did you mean 'RKNPU2ExecutionProvider'?",)),
    ("entry-int", [1], None, ("providers[0] must be a provider name or a (name, options dict) tuple",)),
    ("entry-triple", [("RKNPU2ExecutionProvider", {}, 1)], None, ("providers[0] must be",)),
    (
        "tuple-options-not-dict",
        [("RKNPU2ExecutionProvider", "layout=nhwc")],
        None,
        ("the options of providers[0] ('RKNPU2ExecutionProvider') must be a dict", "(type str)"),
    ),
    ("duplicate", ["RKNPU2ExecutionProvider", "RKNNExecutionProvider"], None, ("more than once",)),
    ("duplicate-cpu", ["CPUExecutionProvider", "CPUExecutionProvider"], None, ("more than once",)),
    (
        "length-mismatch",
        ["RKNPU2ExecutionProvider", "CPUExecutionProvider"],
        [{}],
        ("provider_options has 1 entries but providers has 2",),
    ),
    ("aligned-entry-not-dict", ["RKNPU2ExecutionProvider"], [None], ("provider_options[0] is None",)),
    (
        "same-key-twice",
        [("RKNPU2ExecutionProvider", {"layout": "nhwc"})],
        {"layout": "nhwc"},
        ("provider option 'layout' is given both in providers and in provider_options",),
    ),
    ("bad-option-in-tuple", [("RKNPU2ExecutionProvider", {"layout": 3})], None, ("layout must be a string",)),
]


@pytest.mark.parametrize(
    ("providers", "provider_options", "match"),
    [(p, o, m) for _, p, o, m in BAD_PROVIDERS],
    ids=[i for i, _, _, _ in BAD_PROVIDERS],
)
def test_bad_providers_are_rejected(providers: object, provider_options: object, match: Tuple[str, ...]) -> None:
    expect_invalid(parse_providers, providers, provider_options, match=match)


def test_provider_options_dict_like_ort() -> None:
    config = parse_providers(
        ["RKNNExecutionProvider"],
        [{"schedule": "[0, 0, 1]", "enable_pacing": "on", "custom_op_paths": ["/a.so", "/b.so"]}],
    )
    assert config.provider_options_dict() == {
        "RKNNExecutionProvider": {
            "layout": "nchw",
            "zero_copy_layout": "nhwc",
            "max_queue_size": "3",
            "threads_per_core": "1",
            "submit_timeout_ms": "10000",
            "sequential_callbacks": "1",
            "enable_pacing": "1",
            "disable_dup_context": "0",
            "custom_op_default_path": "0",
            "native_outputs": "0",
            "callback_backlog": "8",
            "schedule": "0,0,1",
            "custom_op_paths": os.pathsep.join(["/a.so", "/b.so"]),
        }
    }


def test_provider_options_dict_round_trips_through_the_parser() -> None:
    config = parse_provider_options(
        {"tp_mode": "0,1", "run_timeout_ms": 50, "runtime_library": "simulator", "native_outputs": True}
    )
    (text,) = config.provider_options_dict().values()
    assert parse_provider_options(text) == config
    assert all(isinstance(value, str) for value in text.values())


# --------------------------------------------------------------------------------------------------------
# ProviderConfig built directly
# --------------------------------------------------------------------------------------------------------

NON_CANONICAL: List[Tuple[str, Dict[str, Any], str]] = [
    ("layout-alias", {"layout": "original"}, "ProviderConfig.layout"),
    ("zero_copy_layout-case", {"zero_copy_layout": "NHWC"}, "ProviderConfig.zero_copy_layout"),
    ("max_queue_size-str", {"max_queue_size": "3"}, "ProviderConfig.max_queue_size"),
    ("threads_per_core-bool", {"threads_per_core": True}, "ProviderConfig.threads_per_core"),
    ("callback_backlog-zero", {"callback_backlog": 0}, "ProviderConfig.callback_backlog"),
    ("run_timeout_ms-zero", {"run_timeout_ms": 0}, "ProviderConfig.run_timeout_ms"),
    ("sequential_callbacks-int", {"sequential_callbacks": 1}, "ProviderConfig.sequential_callbacks"),
    ("schedule-list", {"schedule": [0]}, "ProviderConfig.schedule"),
    ("schedule-empty", {"schedule": ()}, "ProviderConfig.schedule"),
    ("schedule-core-3", {"schedule": (3,)}, "ProviderConfig.schedule"),
    ("tp_mode-case", {"tp_mode": "ALL", "core_mask": 0xFFFF}, "ProviderConfig.tp_mode"),
    ("core_mask-mismatch", {"tp_mode": "all"}, "ProviderConfig.core_mask"),
    ("both", {"tp_mode": "all", "core_mask": 0xFFFF, "schedule": (0,)}, "conflicts with 'schedule'"),
    ("custom_op_paths-list", {"custom_op_paths": ["/a.so"]}, "ProviderConfig.custom_op_paths"),
    ("runtime_library-empty", {"runtime_library": ""}, "ProviderConfig.runtime_library"),
    ("providers-unknown", {"providers": ("CPUExecutionProvider",)}, "ProviderConfig.providers"),
]


@pytest.mark.parametrize(
    ("fields", "match"), [(f, m) for _, f, m in NON_CANONICAL], ids=[i for i, _, _ in NON_CANONICAL]
)
def test_direct_construction_requires_canonical_fields(fields: Dict[str, Any], match: str) -> None:
    expect_invalid(lambda: ProviderConfig(**fields), match=(match,))


def test_replace_keeps_validation() -> None:
    config = dataclasses.replace(ProviderConfig(), tp_mode="0", core_mask=1)
    assert config.core_mask == 1
    expect_invalid(lambda: dataclasses.replace(config, layout="NCHW"), match=("ProviderConfig.layout",))  # type: ignore[arg-type]


def test_to_provider_options_round_trips() -> None:
    config = parse_provider_options(
        {
            "layout": "original_software",
            "zero_copy_layout": "native",
            "schedule": "2 1",
            "custom_op_path": "/a.so",
            "custom_op_default_path": "1",
            "runtime_library": "simulator",
            "run_timeout_ms": "7",
            "callback_backlog": "2",
        }
    )
    assert parse_provider_options(config.to_provider_options()) == config


# --------------------------------------------------------------------------------------------------------
# make_provider_options
# --------------------------------------------------------------------------------------------------------


def test_make_provider_options_is_keyword_only() -> None:
    signature = inspect.signature(make_provider_options)
    assert signature.parameters, "make_provider_options has no parameters"
    for parameter in signature.parameters.values():
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, parameter.name
        assert parameter.default is not inspect.Parameter.empty, parameter.name
    with pytest.raises(TypeError):
        make_provider_options("nchw")  # type: ignore[call-arg]


def test_make_provider_options_default_dict_is_the_peers() -> None:
    result = make_provider_options()
    assert type(result) is dict
    assert result == {
        "layout": "original",
        "max_queue_size": 3,
        "threads_per_core": 1,
        "submit_timeout_ms": 10000,
        "sequential_callbacks": True,
        "enable_pacing": False,
        "disable_dup_context": False,
        "custom_op_default_path": False,
    }
    assert parse_provider_options(result) == ProviderConfig()


def test_make_provider_options_adds_optional_keys_only_when_given() -> None:
    result = make_provider_options(
        tp_mode="all",
        custom_op_paths=["/a.so"],
        zero_copy_layout="native",
        runtime_library="simulator",
        native_outputs=True,
        run_timeout_ms=100,
        callback_backlog=4,
    )
    assert set(result) == set(make_provider_options()) | {
        "tp_mode",
        "custom_op_paths",
        "zero_copy_layout",
        "runtime_library",
        "native_outputs",
        "run_timeout_ms",
        "callback_backlog",
    }
    assert "schedule" not in result
    assert "schedule" in make_provider_options(schedule=[0, 1])


def test_make_provider_options_keeps_a_one_shot_iterator_usable() -> None:
    result = make_provider_options(custom_op_paths=iter(["/a.so", "/b.so"]))
    assert parse_provider_options(result).custom_op_paths == ("/a.so", "/b.so")


def test_make_provider_options_conflict_is_a_value_error_with_the_peers_text() -> None:
    with pytest.raises(ValueError, match=r"^provider options 'tp_mode' conflicts with 'schedule'; set only one\.$"):
        make_provider_options(schedule="0", tp_mode="auto")


def test_make_provider_options_validates_eagerly() -> None:
    expect_invalid(lambda: make_provider_options(max_queue_size=0), match=("max_queue_size must be > 0",))
    expect_invalid(lambda: make_provider_options(layout="bogus"), match=("Unknown layout: bogus",))  # type: ignore[arg-type]


MAKE_CASES: List[Dict[str, Any]] = [
    {},
    {"layout": "nhwc", "max_queue_size": 10, "threads_per_core": 2, "submit_timeout_ms": 5},
    {"schedule": "0,1,2", "enable_pacing": True, "sequential_callbacks": False},
    {"tp_mode": "0,1,2", "disable_dup_context": True},
    {"custom_op_paths": ["/x.so"], "custom_op_default_path": True},
    {"zero_copy_layout": "native", "runtime_library": "simulator", "native_outputs": True},
    {"run_timeout_ms": 1000, "callback_backlog": 1},
]


@pytest.mark.parametrize("kwargs", MAKE_CASES, ids=[",".join(c) or "defaults" for c in MAKE_CASES])
def test_make_provider_options_round_trips(kwargs: Dict[str, Any]) -> None:
    config = parse_provider_options(make_provider_options(**kwargs))
    for key, value in kwargs.items():
        field = getattr(config, key)
        if key == "schedule":
            assert field == (0, 1, 2)
        elif key == "custom_op_paths":
            assert field == tuple(value)
        else:
            assert field == value, key
    assert parse_provider_options(config.to_provider_options()) == config


# --------------------------------------------------------------------------------------------------------
# run_options
# --------------------------------------------------------------------------------------------------------


class OrtLikeRunOptions:
    """ONNX Runtime's RunOptions as far as the parser is concerned: missing entries raise."""

    def __init__(self, entries: Dict[str, str], logid: str = "") -> None:
        self.entries = entries
        self.logid = logid
        self.log_severity_level = -1

    def get_run_config_entry(self, key: str) -> str:
        if key not in self.entries:
            raise RuntimeError(f"RunOptions does not have configuration with key: {key}")
        return self.entries[key]


@pytest.mark.parametrize(
    ("run_options", "expected"),
    [
        (None, RunConfig()),
        ({}, RunConfig()),
        ({"ztu_modelrt_dispatch_batch": True}, RunConfig(dispatch_batch=True)),
        ({"ztu_modelrt_dispatch_batch": "ON"}, RunConfig(dispatch_batch=True)),
        ({"ztu_modelrt_dispatch_batch": 0}, RunConfig()),
        ({"ztu_modelrt_dispatch_batch": None}, RunConfig()),
        ({"native_outputs": "yes"}, RunConfig(native_outputs=True)),
        ({"native_outputs": False}, RunConfig(native_outputs=False)),
        ({"run_timeout_ms": "250"}, RunConfig(run_timeout_ms=250)),
        ({"tag": "frame-7"}, RunConfig(tag="frame-7")),
        (OrtLikeRunOptions({}), RunConfig()),
        (OrtLikeRunOptions({"ztu_modelrt_dispatch_batch": "1"}), RunConfig(dispatch_batch=True)),
        (OrtLikeRunOptions({"native_outputs": "0", "run_timeout_ms": "9"}), RunConfig(False, False, 9)),
        (OrtLikeRunOptions({}, logid="run-a"), RunConfig(tag="run-a")),
        (OrtLikeRunOptions({"tag": "t"}, logid="run-a"), RunConfig(tag="t")),
    ],
    ids=[
        "none",
        "empty",
        "batch-true",
        "batch-on",
        "batch-0",
        "batch-none",
        "native-yes",
        "native-false",
        "timeout-str",
        "tag",
        "ort-empty",
        "ort-batch",
        "ort-native-timeout",
        "ort-logid-tag",
        "ort-tag-over-logid",
    ],
)
def test_run_options_are_parsed(run_options: object, expected: RunConfig) -> None:
    assert parse_run_options(run_options) == expected


BAD_RUN_OPTIONS: List[Tuple[str, object, Tuple[str, ...]]] = [
    ("unknown-key", {"log_severity_level": 1}, ("Unknown run_options key: log_severity_level.", "Supported keys")),
    ("typo", {"ztu_modelrt_dispatch_bach": True}, ("Did you mean 'ztu_modelrt_dispatch_batch'?",)),
    ("key-int", {1: True}, ("run_options keys must be strings",)),
    ("batch-bad", {"ztu_modelrt_dispatch_batch": "sure"}, ("ztu_modelrt_dispatch_batch must be a boolean",)),
    ("native-bad", {"native_outputs": 2}, ("native_outputs must be a boolean", "got 2")),
    ("timeout-zero", {"run_timeout_ms": 0}, ("run_timeout_ms must be > 0",)),
    ("timeout-bool", {"run_timeout_ms": True}, ("run_timeout_ms", "booleans are not accepted")),
    ("timeout-float", {"run_timeout_ms": 0.5}, ("run_timeout_ms must be an integer",)),
    ("tag-int", {"tag": 3}, ("tag must be a string, got 3 (type int)",)),
    ("str", "batch", ("run_options must be None, a dict or a RunOptions object", "(type str)")),
    ("int", 1, ("run_options must be None, a dict or a RunOptions object", "(type int)")),
    ("list", [{}], ("run_options must be None, a dict", "(type list)")),
    (
        "ort-bad-value",
        OrtLikeRunOptions({"ztu_modelrt_dispatch_batch": "maybe"}),
        ("ztu_modelrt_dispatch_batch must be a boolean",),
    ),
    ("ort-bad-timeout", OrtLikeRunOptions({"run_timeout_ms": "-1"}), ("run_timeout_ms must be > 0",)),
]


@pytest.mark.parametrize(
    ("run_options", "match"), [(r, m) for _, r, m in BAD_RUN_OPTIONS], ids=[i for i, _, _ in BAD_RUN_OPTIONS]
)
def test_bad_run_options_are_rejected(run_options: object, match: Tuple[str, ...]) -> None:
    expect_invalid(parse_run_options, run_options, match=match)


def test_unknown_run_option_key_lists_every_key() -> None:
    error = expect_invalid(parse_run_options, {"x": 1})
    assert str(error).endswith("Supported keys: " + ", ".join(RUN_OPTION_KEYS))


def test_our_run_options_object() -> None:
    run_options = RunOptions()
    assert parse_run_options(run_options) == RunConfig()
    run_options.add_run_config_entry("ztu_modelrt_dispatch_batch", "1")
    run_options.add_run_config_entry("native_outputs", "true")
    run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")  # ORT's: ignored
    run_options.logid = "r1"
    run_options.log_severity_level = 0
    run_options.terminate = True
    assert parse_run_options(run_options) == RunConfig(dispatch_batch=True, native_outputs=True, tag="r1")
    assert run_options.get_run_config_entry("native_outputs") == "true"
    assert "r1" in repr(run_options)


def test_our_run_options_reject_unknown_ztu_entries() -> None:
    run_options = RunOptions()
    run_options.add_run_config_entry("ztu_modelrt_dispatch", "1")
    expect_invalid(parse_run_options, run_options, match=("Unknown run config entry", "'ztu_modelrt_dispatch_batch'"))


def test_run_options_missing_entry_raises_runtime_error_like_ort() -> None:
    expect_invalid(RunOptions().get_run_config_entry, "x", match=("RunOptions does not have configuration with key: x",))


@pytest.mark.parametrize(
    ("attribute", "value", "match"),
    [
        ("log_severity_level", 5, "log_severity_level must be <= 4"),
        ("log_severity_level", "x", "log_severity_level must be an integer"),
        ("log_verbosity_level", -1, "log_verbosity_level must be >= 0"),
        ("logid", 3, "logid must be a string"),
        ("terminate", "perhaps", "terminate must be a boolean"),
        ("only_execute_path_to_fetches", None, "only_execute_path_to_fetches must be a boolean"),
    ],
)
def test_run_options_attributes_are_type_checked(attribute: str, value: object, match: str) -> None:
    run_options = RunOptions()
    expect_invalid(setattr, run_options, attribute, value, match=(match,))


def test_run_options_config_entries_must_be_strings() -> None:
    with pytest.raises(TypeError, match="key must be a str"):
        RunOptions().add_run_config_entry(1, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value must be a str"):
        RunOptions().add_run_config_entry("tag", 1)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        RunOptions().run_tag = "x"  # type: ignore[attr-defined]


def test_run_config_resolves_against_the_session() -> None:
    session = parse_provider_options({"native_outputs": True, "run_timeout_ms": 100})
    assert RunConfig().resolve_native_outputs(session) is True
    assert RunConfig(native_outputs=False).resolve_native_outputs(session) is False
    assert RunConfig().resolve_run_timeout_ms(session) == 100
    assert RunConfig(run_timeout_ms=5).resolve_run_timeout_ms(session) == 5
    assert RunConfig().resolve_run_timeout_ms(ProviderConfig()) is None


# --------------------------------------------------------------------------------------------------------
# SessionOptions
# --------------------------------------------------------------------------------------------------------


def test_session_options_defaults_like_ort() -> None:
    so = SessionOptions()
    assert so.enable_profiling is False
    assert so.profile_file_prefix == "onnxruntime_profile_"
    assert (so.log_severity_level, so.log_verbosity_level, so.logid) == (2, 0, "")
    assert (so.intra_op_num_threads, so.inter_op_num_threads) == (0, 0)
    assert so.graph_optimization_level is GraphOptimizationLevel.ORT_ENABLE_ALL
    assert so.execution_mode is ExecutionMode.ORT_SEQUENTIAL
    assert parse_session_options(so) == SessionConfig() == parse_session_options(None)


def test_session_options_assignment_normalises() -> None:
    so = SessionOptions()
    so.enable_profiling = True
    so.profile_file_prefix = "trace"
    so.graph_optimization_level = 1
    so.execution_mode = ExecutionMode.ORT_PARALLEL
    so.intra_op_num_threads = 4
    so.log_severity_level = -1
    assert so.graph_optimization_level is GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert parse_session_options(so) == SessionConfig(
        enable_profiling=True, profile_file_prefix="trace", log_severity_level=-1
    )
    so.add_session_config_entry("session.use_env_allocators", "1")
    assert so.get_session_config_entry("session.use_env_allocators") == "1"
    expect_invalid(so.get_session_config_entry, "x", match=("SessionOptions does not have configuration with key: x",))
    assert "trace" in repr(so)


@pytest.mark.parametrize(
    ("attribute", "value", "match"),
    [
        ("enable_profiling", "sometimes", "enable_profiling must be a boolean"),
        ("enable_profiling", 2, "enable_profiling must be a boolean"),
        ("profile_file_prefix", pathlib.Path("x"), "profile_file_prefix must be a string"),
        ("log_severity_level", 9, "log_severity_level must be <= 4"),
        ("log_severity_level", True, "booleans are not accepted"),
        ("log_verbosity_level", 1.5, "log_verbosity_level must be an integer"),
        ("logid", None, "logid must be a string"),
        ("intra_op_num_threads", -1, "intra_op_num_threads must be >= 0"),
        ("inter_op_num_threads", "many", "inter_op_num_threads must be an integer"),
        ("graph_optimization_level", 3, "graph_optimization_level must be one of GraphOptimizationLevel: ORT_DISABLE_ALL (0)"),
        ("graph_optimization_level", "ORT_ENABLE_ALL", "ORT_ENABLE_ALL (99)"),
        ("execution_mode", 2, "execution_mode must be one of ExecutionMode: ORT_SEQUENTIAL (0), ORT_PARALLEL (1)"),
        ("enable_mem_pattern", None, "enable_mem_pattern must be a boolean"),
        ("optimized_model_filepath", 1, "optimized_model_filepath must be a string"),
    ],
)
def test_session_options_attributes_are_type_checked(attribute: str, value: object, match: str) -> None:
    expect_invalid(setattr, SessionOptions(), attribute, value, match=(match,))


def test_session_options_reject_unknown_attributes() -> None:
    with pytest.raises(AttributeError):
        SessionOptions().enable_profilng = True  # type: ignore[attr-defined]


def test_parse_session_options_reads_foreign_objects() -> None:
    class ForeignEnum:
        value = 0

    class OrtLike:
        enable_profiling = True
        profile_file_prefix = "p"
        log_severity_level = 3
        logid = "s"
        graph_optimization_level = ForeignEnum()

    assert parse_session_options(OrtLike()) == SessionConfig(True, "p", 3, "s")
    so = SessionOptions()
    so.graph_optimization_level = ForeignEnum()
    assert so.graph_optimization_level is GraphOptimizationLevel.ORT_DISABLE_ALL


@pytest.mark.parametrize("value", [{"enable_profiling": True}, "so", 3, object()], ids=["dict", "str", "int", "object"])
def test_parse_session_options_rejects_other_kinds(value: object) -> None:
    expect_invalid(parse_session_options, value, match=("sess_options must be None or a SessionOptions object",))


def test_parse_session_options_validates_foreign_attributes() -> None:
    class OrtLike:
        enable_profiling = "maybe"

    expect_invalid(parse_session_options, OrtLike(), match=("sess_options.enable_profiling must be a boolean",))


# --------------------------------------------------------------------------------------------------------
# mem_flags (peer §13.2)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0),
        ("default", 0),
        ("cacheable", 0),
        (" CACHEABLE ", 0),
        ("non_cacheable", 2),
        ("non-cacheable", 2),
        ("uncached", 2),
        ("try_sram", 4),
        ("SRAM", 4),
        (0, 0),
        (6, 6),
    ],
)
def test_mem_flags(value: object, expected: int) -> None:
    assert parse_mem_flags(value) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("fast", "mem_flags must be one of: default, cacheable, non_cacheable, try_sram"),
        (1.0, "mem_flags must be a string, integer, or None"),
        (True, "mem_flags must be a string, integer, or None"),
        (-1, "mem_flags must be >= 0"),
        (2**64, "mem_flags must be <="),
    ],
)
def test_bad_mem_flags(value: object, match: str) -> None:
    expect_invalid(parse_mem_flags, value, match=(match, "got"))


# --------------------------------------------------------------------------------------------------------
# Module surface
# --------------------------------------------------------------------------------------------------------


def test_all_names_exist() -> None:
    for name in opts.__all__:
        assert hasattr(opts, name), name
    assert len(set(opts.__all__)) == len(opts.__all__)


def test_typed_dict_keys() -> None:
    assert set(opts.RknnProviderOptions.__optional_keys__) == set(PROVIDER_OPTION_KEYS)
    assert not opts.RknnProviderOptions.__required_keys__
    assert set(opts.RknnRunOptions.__optional_keys__) == set(RUN_OPTION_KEYS)


@pytest.mark.parametrize(
    "func", [parse_provider_options, parse_providers, parse_run_options, parse_session_options, parse_mem_flags]
)
def test_parsers_take_positional_values(func: Any) -> None:
    # Parsers mirror ORT's positional (providers, provider_options) style; extra knobs are keyword-only.
    for parameter in inspect.signature(func).parameters.values():
        assert parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
