"""Property tests for option parsing: every valid spelling normalises identically; junk never escapes as
anything but InvalidOptionError."""
from __future__ import annotations

import datetime
import decimal
import fractions
import pathlib
from typing import Any, Dict, List, Optional, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ztu_somemodelruntime_ez_rknn_async.errors import InvalidOptionError
from ztu_somemodelruntime_ez_rknn_async.options import (
    PROVIDER_OPTION_KEYS,
    RUN_OPTION_KEYS,
    TP_MODE_CORE_MASKS,
    ProviderConfig,
    RknnProviderOptions,
    RunConfig,
    RunOptions,
    SessionOptions,
    make_provider_options,
    parse_mem_flags,
    parse_provider_options,
    parse_providers,
    parse_run_options,
    parse_session_options,
)

SETTINGS = settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------------------
# Spelling strategies
# --------------------------------------------------------------------------------------------------------

whitespace = st.sampled_from(["", " ", "  ", "\t", "\n", " \t "])


def case_variants(text: str) -> st.SearchStrategy[str]:
    """*text* with every letter independently upper- or lower-cased, padded with whitespace."""
    flips = st.lists(st.booleans(), min_size=len(text), max_size=len(text))
    cased = flips.map(lambda up: "".join(c.upper() if u else c.lower() for c, u in zip(text, up)))
    return st.tuples(whitespace, cased, whitespace).map("".join)


def int_spellings(number: int) -> st.SearchStrategy[object]:
    padded = st.tuples(whitespace, st.sampled_from(["", "+"]), whitespace).map(
        lambda parts: f"{parts[0]}{parts[1]}{number}{parts[2]}"
    )
    return st.one_of(st.just(number), st.just(str(number)), padded)


def bool_spellings(value: bool) -> st.SearchStrategy[object]:
    words = ("1", "true", "on", "yes") if value else ("0", "false", "off", "no")
    return st.one_of(st.just(value), st.just(int(value)), st.sampled_from(words).flatmap(case_variants))


def schedule_spellings(cores: Tuple[int, ...]) -> st.SearchStrategy[object]:
    """Every accepted form of a schedule: int, separated strings, lists/tuples of int-likes."""
    n = len(cores)
    inner_sep = st.text(alphabet=" ,[]\t", min_size=1, max_size=3)  # every character separates
    outer_sep = st.text(alphabet=" ,[]\t", max_size=3)

    def join(parts: Tuple[str, List[str], str]) -> str:
        lead, seps, trail = parts
        text = lead
        for index, core in enumerate(cores):
            if index:
                text += seps[index - 1]
            text += str(core)
        return text + trail

    separated = st.tuples(outer_sep, st.lists(inner_sep, min_size=n - 1, max_size=n - 1), outer_sep).map(join)
    forms: List[st.SearchStrategy[object]] = [
        st.just(",".join(map(str, cores))),
        st.just("[" + ", ".join(map(str, cores)) + "]"),
        st.just(" ".join(map(str, cores))),
        separated,
        st.just(list(cores)),
        st.just(tuple(cores)),
        st.tuples(*(int_spellings(core) for core in cores)).map(list),
    ]
    if n == 1:
        forms += [st.just(cores[0]), int_spellings(cores[0])]
    return st.one_of(forms)


LAYOUT_SPELLINGS = {
    "nchw": ("nchw", "original"),
    "nchw_software": ("nchw_software", "original_software"),
    "nhwc": ("nhwc",),
    "any": ("any",),
}

paths = st.text(alphabet="abcdefghij/._-", min_size=1, max_size=12)


@st.composite
def valid_options(draw: st.DrawFn) -> Tuple[Dict[str, object], ProviderConfig]:
    """A random valid configuration and a random spelling of it (random keys, order and forms)."""
    expected: Dict[str, Any] = {}
    items: List[Tuple[str, object]] = []

    def maybe(key: str, canonical: object, spelling: st.SearchStrategy[object], field: Optional[str] = None) -> None:
        if draw(st.booleans()):
            items.append((key, draw(spelling)))
            expected[field or key] = canonical

    layout = draw(st.sampled_from(sorted(LAYOUT_SPELLINGS)))
    maybe("layout", layout, st.sampled_from(LAYOUT_SPELLINGS[layout]).flatmap(case_variants))
    zero_copy = draw(st.sampled_from(["nhwc", "native"]))
    maybe("zero_copy_layout", zero_copy, case_variants(zero_copy))
    for key, high in (
        ("max_queue_size", 1_000_000),
        ("threads_per_core", 16),
        ("submit_timeout_ms", 2**31 - 1),
        ("callback_backlog", 1_000_000),
        ("run_timeout_ms", 2**31 - 1),
    ):
        number = draw(st.integers(1, high))
        maybe(key, number, int_spellings(number))
    for key in ("sequential_callbacks", "enable_pacing", "disable_dup_context", "native_outputs"):
        flag = draw(st.booleans())
        maybe(key, flag, bool_spellings(flag))
    default_dir = draw(st.booleans())
    alias = draw(st.sampled_from(["custom_op_default_path", "load_custom_ops_from_default_path"]))
    maybe(alias, default_dir, bool_spellings(default_dir), field="custom_op_default_path")
    mode = draw(st.sampled_from(["schedule", "tp_mode", "neither"]))
    if mode == "schedule":
        cores = tuple(draw(st.lists(st.integers(0, 2), min_size=1, max_size=6)))
        items.append(("schedule", draw(schedule_spellings(cores))))
        expected["schedule"] = cores
    elif mode == "tp_mode":
        text = draw(st.sampled_from(sorted(TP_MODE_CORE_MASKS)))
        items.append(("tp_mode", draw(case_variants(text))))
        expected["tp_mode"] = text
        expected["core_mask"] = TP_MODE_CORE_MASKS[text]
    library = draw(st.one_of(st.none(), st.just("simulator"), paths))
    library_forms: List[object] = [library]
    if library not in (None, "simulator") and pathlib.PurePosixPath(library).as_posix() == library:
        library_forms.append(pathlib.PurePosixPath(library))  # an os.PathLike spelling of the same path
    maybe("runtime_library", library, st.sampled_from(library_forms))
    for key in ("custom_op_path", "custom_op_paths"):
        if draw(st.booleans()):
            chosen = draw(st.lists(paths, max_size=3))
            form = draw(st.sampled_from(["list", "tuple", "single"])) if len(chosen) == 1 else "list"
            items.append((key, chosen[0] if form == "single" else (tuple(chosen) if form == "tuple" else chosen)))
    order = draw(st.permutations(items))
    collected: List[str] = []
    for key, value in order:
        if key in ("custom_op_path", "custom_op_paths"):
            collected.extend([value] if isinstance(value, str) else list(value))  # type: ignore[call-overload]
    expected["custom_op_paths"] = tuple(collected)
    return dict(order), ProviderConfig(**expected)


@SETTINGS
@given(valid_options())
def test_every_valid_spelling_normalises_to_the_same_config(case: Tuple[Dict[str, object], ProviderConfig]) -> None:
    options, expected = case
    config = parse_provider_options(options)
    assert config == expected
    # The same through the other containers and the providers list.
    assert parse_provider_options([options]) == expected
    assert parse_providers(["RKNPU2ExecutionProvider", "CPUExecutionProvider"], [options, {}]) == expected
    assert parse_providers([("RKNPU2ExecutionProvider", options)]) == expected
    # Canonical forms parse back to the same config.
    assert parse_provider_options(config.to_provider_options()) == config


@SETTINGS
@given(st.lists(st.integers(0, 2), min_size=1, max_size=8).map(tuple).flatmap(
    lambda cores: st.tuples(st.just(cores), schedule_spellings(cores))))
def test_schedule_spellings(case: Tuple[Tuple[int, ...], object]) -> None:
    cores, spelling = case
    assert parse_provider_options({"schedule": spelling}).schedule == cores


@SETTINGS
@given(st.sampled_from(sorted(TP_MODE_CORE_MASKS)).flatmap(lambda m: st.tuples(st.just(m), case_variants(m))))
def test_tp_mode_spellings(case: Tuple[str, str]) -> None:
    mode, spelling = case
    config = parse_provider_options({"tp_mode": spelling})
    assert (config.tp_mode, config.core_mask) == (mode, TP_MODE_CORE_MASKS[mode])


@SETTINGS
@given(st.booleans().flatmap(lambda b: st.tuples(st.just(b), bool_spellings(b))))
def test_bool_spellings(case: Tuple[bool, object]) -> None:
    value, spelling = case
    assert parse_provider_options({"enable_pacing": spelling}).enable_pacing is value
    assert parse_run_options({"ztu_modelrt_dispatch_batch": spelling}).dispatch_batch is value


@SETTINGS
@given(st.integers(1, 16).flatmap(lambda n: st.tuples(st.just(n), int_spellings(n))))
def test_int_spellings(case: Tuple[int, object]) -> None:
    value, spelling = case
    assert parse_provider_options({"threads_per_core": spelling}).threads_per_core == value
    assert parse_run_options({"run_timeout_ms": spelling}).run_timeout_ms == value


@SETTINGS
@given(valid_options())
def test_make_provider_options_round_trips(case: Tuple[Dict[str, object], ProviderConfig]) -> None:
    _, config = case
    kwargs: Dict[str, Any] = {
        "layout": config.layout,
        "max_queue_size": config.max_queue_size,
        "threads_per_core": config.threads_per_core,
        "submit_timeout_ms": config.submit_timeout_ms,
        "sequential_callbacks": config.sequential_callbacks,
        "schedule": config.schedule,
        "tp_mode": config.tp_mode,
        "enable_pacing": config.enable_pacing,
        "disable_dup_context": config.disable_dup_context,
        "custom_op_paths": list(config.custom_op_paths) or None,
        "custom_op_default_path": config.custom_op_default_path,
        "zero_copy_layout": config.zero_copy_layout,
        "runtime_library": config.runtime_library,
        "native_outputs": config.native_outputs,
        "run_timeout_ms": config.run_timeout_ms,
        "callback_backlog": config.callback_backlog,
    }
    assert parse_provider_options(make_provider_options(**kwargs)) == config


# --------------------------------------------------------------------------------------------------------
# Junk: parse or InvalidOptionError, never anything else
# --------------------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-3, 20),
    st.floats(allow_nan=True),
    st.complex_numbers(),
    st.text(),
    st.text(alphabet="0123456789 ,[]+-\t", max_size=8),
    st.sampled_from(["auto", "ALL", "0,1", " 2 ", "true", "Off", "nchw", "native", "simulator", "x.so", ""]),
    st.binary(),
    st.from_type(bytearray),
    st.decimals(),
    st.fractions(),
    st.from_type(datetime.timedelta),
    st.from_type(range),
    st.from_type(slice),
    st.builds(object),
    st.text(max_size=5).map(pathlib.PurePosixPath),
)
junk = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), children, max_size=3),
        st.frozensets(st.integers(), max_size=3),
        st.from_type(list),
        st.from_type(dict),
    ),
    max_leaves=8,
)
keys = st.one_of(st.sampled_from(PROVIDER_OPTION_KEYS), st.text(max_size=10), st.integers(), st.none())


def parses_or_invalid(func: Any, *args: Any) -> Any:
    try:
        return func(*args)
    except InvalidOptionError as error:
        assert isinstance(error, RuntimeError) and isinstance(error, ValueError)
        assert str(error)
        return None


@SETTINGS
@given(st.sampled_from(PROVIDER_OPTION_KEYS), junk)
def test_junk_value_for_any_key(key: str, value: object) -> None:
    config = parses_or_invalid(parse_provider_options, {key: value})
    if config is not None:
        assert isinstance(config, ProviderConfig)


@SETTINGS
@given(st.dictionaries(keys, junk, max_size=5))
def test_junk_option_dicts(options: Dict[Any, object]) -> None:
    parses_or_invalid(parse_provider_options, options)


@SETTINGS
@given(st.from_type(RknnProviderOptions))
def test_typed_dict_instances(options: RknnProviderOptions) -> None:
    parses_or_invalid(parse_provider_options, options)


@SETTINGS
@given(junk, junk)
def test_junk_containers(providers: object, provider_options: object) -> None:
    parses_or_invalid(parse_provider_options, provider_options)
    parses_or_invalid(parse_providers, providers, provider_options)
    parses_or_invalid(parse_providers, ["RKNPU2ExecutionProvider", providers], provider_options)
    parses_or_invalid(parse_run_options, provider_options)
    parses_or_invalid(parse_session_options, provider_options)
    parses_or_invalid(parse_mem_flags, provider_options)


@SETTINGS
@given(st.dictionaries(st.one_of(st.sampled_from(RUN_OPTION_KEYS), st.text(max_size=8)), junk, max_size=4))
def test_junk_run_options(run_options: Dict[str, object]) -> None:
    config = parses_or_invalid(parse_run_options, run_options)
    if config is not None:
        assert isinstance(config, RunConfig)


@SETTINGS
@given(st.sampled_from(["log_severity_level", "log_verbosity_level", "logid", "terminate"]), junk)
def test_junk_run_options_attributes(attribute: str, value: object) -> None:
    parses_or_invalid(setattr, RunOptions(), attribute, value)


@SETTINGS
@given(
    st.sampled_from(
        [
            "enable_profiling",
            "profile_file_prefix",
            "log_severity_level",
            "intra_op_num_threads",
            "graph_optimization_level",
            "execution_mode",
        ]
    ),
    junk,
)
def test_junk_session_options_attributes(attribute: str, value: object) -> None:
    so = SessionOptions()
    parses_or_invalid(setattr, so, attribute, value)
    parses_or_invalid(parse_session_options, so)
