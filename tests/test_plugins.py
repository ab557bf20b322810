"""Custom-op plugins: loading, security checks, default-directory scan, registration and the compute they add.

The plugin is ``tests/c/plugin_scale.c``, built here into temporary directories: an independent library
declaring the custom-op ABI itself. Its op ``cstScale`` computes ``2 * x + 1`` (the simulator's default
rule would give ``x``), so the values prove the plugin's compute ran; the simulator's
``custom_op_compute_calls`` counter proves it too.
"""
from __future__ import annotations

import gc
import os
import pathlib
import shutil
import subprocess
import warnings
from typing import Any, Callable, Iterator, List

import numpy as np
import pytest

from ztu_somemodelruntime_ez_rknn_async import plugins, simulator
from ztu_somemodelruntime_ez_rknn_async._context import RknnContext
from ztu_somemodelruntime_ez_rknn_async._library import load_runtime
from ztu_somemodelruntime_ez_rknn_async.errors import InvalidOptionError, RknnError
from ztu_somemodelruntime_ez_rknn_async.plugins import (
    CustomOpPluginError,
    CustomOpPlugins,
    PluginPermissionError,
    load_custom_op_plugins,
)
from ztu_somemodelruntime_ez_rknn_async.zero_copy import IOBinding, ZeroCopyEngine

SOURCE = pathlib.Path(__file__).parent / "c" / "plugin_scale.c"
OP = "cstScale"

Builder = Callable[..., pathlib.Path]


def _compiler() -> str:
    for cc in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    pytest.skip("no C compiler to build the test plugin")
    raise AssertionError


@pytest.fixture(scope="session")
def _plugin_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    yield tmp_path_factory.mktemp("plugin-builds")


@pytest.fixture()
def build_plugin(_plugin_cache: pathlib.Path) -> Builder:
    """``build_plugin(dest_dir, filename, *defines) -> path``: compiled once per define set, copied to dest."""

    def build(dest: pathlib.Path, filename: str, *defines: str) -> pathlib.Path:
        key = "_".join(d.replace("=", "-").replace('"', "").replace("-D", "") for d in defines) or "default"
        cached = _plugin_cache / "{}.so".format(key)
        if not cached.exists():
            cmd = [_compiler(), "-std=c11", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", *defines,
                   "-o", str(cached), str(SOURCE)]
            subprocess.run(cmd, check=True, capture_output=True)
        dest.mkdir(parents=True, exist_ok=True)
        out = dest / filename
        shutil.copyfile(cached, out)
        os.chmod(out, 0o755)
        return out

    return build


@pytest.fixture()
def safe_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    d = tmp_path / "plugins"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    return d


def _model(tmp_path: pathlib.Path, shape: Any = (1, 6), custom_op: str = OP) -> pathlib.Path:
    return simulator.write_model(tmp_path / "custom.rknn", [simulator.TensorSpec("x", shape)],
                                 [simulator.TensorSpec("y", shape)], latency_us=0, custom_op=custom_op)


# ------------------------------------------------------------------------------------------ loading


def test_explicit_plugin_loads_and_copies_the_op(build_plugin: Builder, safe_dir: pathlib.Path) -> None:
    path = build_plugin(safe_dir, "libscale.so")
    loaded = load_custom_op_plugins([str(path)], use_default_dir=False)
    assert len(loaded) == 1 and bool(loaded)
    p = loaded.plugins[0]
    assert (p.op_type, p.version, p.target) == (OP, 1, 1)
    assert p.path == str(path) and p.resolved_path == os.path.realpath(str(path))
    assert loaded.op_types == [OP]
    assert p.op.compute  # copied by value, pointer intact


def test_pathlike_is_accepted(build_plugin: Builder, safe_dir: pathlib.Path) -> None:
    path = build_plugin(safe_dir, "libscale.so")
    assert load_custom_op_plugins([path], use_default_dir=False).op_types == [OP]


def test_no_plugins_is_an_empty_set() -> None:
    loaded = load_custom_op_plugins([], use_default_dir=False)
    assert not loaded and len(loaded) == 0


@pytest.mark.parametrize("path", ["libscale.so", "plugins/libscale.so", "./libscale.so", ""])
def test_relative_path_is_refused(path: str) -> None:
    with pytest.raises(InvalidOptionError, match="absolute|non-empty"):
        load_custom_op_plugins([path], use_default_dir=False)


def test_relative_path_is_refused_even_if_it_exists_in_cwd(build_plugin: Builder, safe_dir: pathlib.Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    build_plugin(safe_dir, "libscale.so")
    monkeypatch.chdir(safe_dir)
    with pytest.raises(InvalidOptionError, match="must be absolute.*current directory"):
        load_custom_op_plugins(["libscale.so"], use_default_dir=False)


def test_missing_symbol_null_op_and_non_library(build_plugin: Builder, safe_dir: pathlib.Path) -> None:
    nosym = build_plugin(safe_dir, "libnosym.so", "-DNO_SYMBOL")
    with pytest.raises(CustomOpPluginError, match="dlsym fail for get_rknn_custom_op"):
        load_custom_op_plugins([str(nosym)], use_default_dir=False)
    null = build_plugin(safe_dir, "libnull.so", "-DRETURN_NULL")
    with pytest.raises(CustomOpPluginError, match="get_rknn_custom_op returned null"):
        load_custom_op_plugins([str(null)], use_default_dir=False)
    text = safe_dir / "libtext.so"
    text.write_text("not a library")
    os.chmod(text, 0o644)
    with pytest.raises(CustomOpPluginError, match="dlopen .*libtext.so fail"):
        load_custom_op_plugins([str(text)], use_default_dir=False)
    with pytest.raises(CustomOpPluginError, match="cannot be read"):
        load_custom_op_plugins([str(safe_dir / "missing.so")], use_default_dir=False)


def test_duplicate_op_is_refused(build_plugin: Builder, safe_dir: pathlib.Path) -> None:
    a = build_plugin(safe_dir, "liba.so")
    b = build_plugin(safe_dir, "libb.so")
    with pytest.raises(CustomOpPluginError, match=r"Duplicate custom op definition detected: cstScale "
                                                  r"\(version=1, target=1\) from .*libb.so"):
        load_custom_op_plugins([str(a), str(b)], use_default_dir=False)
    # Another version is another key.
    c = build_plugin(safe_dir, "libc.so", "-DOP_VERSION=2")
    assert len(load_custom_op_plugins([str(a), str(c)], use_default_dir=False)) == 2


# ------------------------------------------------------------------------------------------ permissions


def test_world_writable_directory_is_refused(build_plugin: Builder, tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "open"
    path = build_plugin(bad, "libscale.so")
    os.chmod(bad, 0o777)  # no sticky bit: anyone may replace the library
    with pytest.raises(PluginPermissionError, match="directory .*open is writable by group or others"):
        load_custom_op_plugins([str(path)], use_default_dir=False)
    os.chmod(bad, 0o775)
    with pytest.raises(PluginPermissionError, match="writable by group or others"):
        load_custom_op_plugins([str(path)], use_default_dir=False)
    os.chmod(bad, 0o755)
    assert len(load_custom_op_plugins([str(path)], use_default_dir=False)) == 1


def test_sticky_world_writable_parent_is_accepted(build_plugin: Builder, tmp_path: pathlib.Path) -> None:
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)  # like /tmp: others cannot replace our entries
    inner = sticky / "mine"
    path = build_plugin(inner, "libscale.so")
    os.chmod(inner, 0o755)
    assert len(load_custom_op_plugins([str(path)], use_default_dir=False)) == 1


def test_writable_file_is_refused(build_plugin: Builder, safe_dir: pathlib.Path) -> None:
    path = build_plugin(safe_dir, "libscale.so")
    for mode in (0o666, 0o775):
        os.chmod(path, mode)
        with pytest.raises(PluginPermissionError, match="the file is writable by group or others"):
            load_custom_op_plugins([str(path)], use_default_dir=False)


def test_symlink_into_unsafe_directory_is_refused(build_plugin: Builder, tmp_path: pathlib.Path,
                                                  safe_dir: pathlib.Path) -> None:
    bad = tmp_path / "open"
    target = build_plugin(bad, "libreal.so")
    os.chmod(bad, 0o777)
    link = safe_dir / "libscale.so"
    link.symlink_to(target)
    with pytest.raises(PluginPermissionError, match="resolved to .*libreal.so"):
        load_custom_op_plugins([str(link)], use_default_dir=False)
    # A symlink to a safe place is fine, and the resolved file is what gets loaded.
    os.chmod(bad, 0o755)
    loaded = load_custom_op_plugins([str(link)], use_default_dir=False)
    assert loaded.plugins[0].resolved_path == os.path.realpath(str(target))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_file_or_directory_owned_by_another_user_is_refused(build_plugin: Builder, tmp_path: pathlib.Path) -> None:
    d = tmp_path / "other"
    path = build_plugin(d, "libscale.so")
    os.chown(path, 4321, 4321)
    with pytest.raises(PluginPermissionError, match="owned by uid 4321"):
        load_custom_op_plugins([str(path)], use_default_dir=False)
    os.chown(path, 0, 0)
    os.chown(d, 4321, 4321)
    with pytest.raises(PluginPermissionError, match="directory .*other is owned by uid 4321"):
        load_custom_op_plugins([str(path)], use_default_dir=False)


# ------------------------------------------------------------------------------------------ default directory


def test_default_dir_scans_only_librkcst_files_in_sorted_order(build_plugin: Builder, safe_dir: pathlib.Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    build_plugin(safe_dir, "librkcst_b.so", '-DOP_TYPE="cstB"')
    build_plugin(safe_dir, "librkcst_a.so", '-DOP_TYPE="cstA"')
    build_plugin(safe_dir, "librkcst_c.so", '-DOP_TYPE="cstC"')
    # Unrelated files: a library that would be a duplicate of cstA if loaded, a broken one, wrong suffix.
    build_plugin(safe_dir, "libother.so", '-DOP_TYPE="cstA"')
    build_plugin(safe_dir, "rkcst_d.so", "-DNO_SYMBOL")
    (safe_dir / "librkcst_e.so.txt").write_text("ignored")
    (safe_dir / "librkcst_dir.so").mkdir()
    monkeypatch.setattr(plugins, "DEFAULT_PLUGIN_DIR", str(safe_dir) + "/")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_custom_op_plugins([], use_default_dir=True)
    assert loaded.op_types == ["cstA", "cstB", "cstC"]
    assert [os.path.basename(p.path) for p in loaded.plugins] == ["librkcst_a.so", "librkcst_b.so", "librkcst_c.so"]


def test_explicit_paths_come_before_the_default_dir(build_plugin: Builder, safe_dir: pathlib.Path,
                                                    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_plugin(safe_dir, "librkcst_a.so", '-DOP_TYPE="cstA"')
    explicit = build_plugin(tmp_path / "explicit", "libz.so", '-DOP_TYPE="cstZ"')
    monkeypatch.setattr(plugins, "DEFAULT_PLUGIN_DIR", str(safe_dir))
    assert load_custom_op_plugins([str(explicit)], use_default_dir=True).op_types == ["cstZ", "cstA"]
    # A default-dir plugin duplicating an explicit one is an error, not a silent override.
    dup = build_plugin(tmp_path / "explicit", "liba.so", '-DOP_TYPE="cstA"')
    with pytest.raises(CustomOpPluginError, match="Duplicate custom op definition detected: cstA"):
        load_custom_op_plugins([str(dup)], use_default_dir=True)


def test_missing_default_dir_warns(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = str(tmp_path / "nope") + "/"
    monkeypatch.setattr(plugins, "DEFAULT_PLUGIN_DIR", missing)
    with pytest.warns(UserWarning, match="Default plugin directory does not exist: " + missing):
        loaded = load_custom_op_plugins([], use_default_dir=True)
    assert not loaded


def test_broken_default_dir_plugin_warns_and_the_scan_continues(build_plugin: Builder, safe_dir: pathlib.Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    build_plugin(safe_dir, "librkcst_a_broken.so", "-DNO_SYMBOL")
    build_plugin(safe_dir, "librkcst_b.so", '-DOP_TYPE="cstB"')
    monkeypatch.setattr(plugins, "DEFAULT_PLUGIN_DIR", str(safe_dir))
    with pytest.warns(UserWarning, match="Failed to load plugin librkcst_a_broken.so: dlsym fail"):
        loaded = load_custom_op_plugins([], use_default_dir=True)
    assert loaded.op_types == ["cstB"]


def test_unsafe_default_dir_is_an_error(build_plugin: Builder, tmp_path: pathlib.Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "open"
    build_plugin(bad, "librkcst_a.so", '-DOP_TYPE="cstA"')
    os.chmod(bad, 0o777)
    monkeypatch.setattr(plugins, "DEFAULT_PLUGIN_DIR", str(bad))
    with pytest.raises(PluginPermissionError):
        load_custom_op_plugins([], use_default_dir=True)


def test_default_dir_per_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANDROID_ROOT", raising=False)
    assert plugins.default_plugin_dir() == plugins.DEFAULT_PLUGIN_DIR == "/usr/lib/rknpu/op_plugins/"
    monkeypatch.setenv("ANDROID_ROOT", "/system")
    assert plugins.default_plugin_dir() in (plugins.ANDROID_PLUGIN_DIR_64, plugins.ANDROID_PLUGIN_DIR_32)


def test_dup_context_warning_text() -> None:
    assert plugins.DUP_CONTEXT_WARNING == ("Custom op loading requested; dup_context is disabled for this session to "
                                           "avoid known RKNN stability issues.")


# ------------------------------------------------------------------------------------------ registration and compute


def _engine(path: pathlib.Path, loaded: CustomOpPlugins) -> ZeroCopyEngine:
    lib = load_runtime("simulator")

    def factory() -> RknnContext:
        ctx = RknnContext.init(lib, str(path))
        try:
            loaded.register(ctx)
        except BaseException:
            ctx.destroy()
            raise
        return ctx

    return ZeroCopyEngine(factory, name=str(path))


def _run(engine: ZeroCopyEngine, x: np.ndarray) -> np.ndarray:
    binding = IOBinding(engine)
    binding.bind_cpu_input("x", x)
    binding.bind_output("y", "rknpu2")
    engine.run(binding)
    [y] = binding.copy_outputs_to_cpu()
    return y


def test_model_with_custom_op_fails_without_registration(sim: Any, tmp_path: pathlib.Path) -> None:
    path = _model(tmp_path)
    engine = _engine(path, CustomOpPlugins())
    try:
        with pytest.raises(RknnError, match="rknn_run failed: RKNN_ERR_FAIL"):
            _run(engine, np.ones((1, 6), np.float32))
    finally:
        engine.close()


def test_session_copy_path_fails_without_registration(sim: Any, tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    path = _model(tmp_path)
    with InferenceSession(str(path), provider_options={"runtime_library": "simulator"}) as sess:
        with pytest.raises(RknnError, match="rknn_run"):
            sess.run(None, {"x": np.ones((1, 6), np.float32)})


def test_registered_plugin_computes_the_outputs(sim: Any, build_plugin: Builder, safe_dir: pathlib.Path,
                                               tmp_path: pathlib.Path) -> None:
    loaded = load_custom_op_plugins([str(build_plugin(safe_dir, "libscale.so"))], use_default_dir=False)
    path = _model(tmp_path)
    calls = sim.counter("custom_op_compute_calls")
    registrations = sim.counter("calls:rknn_register_custom_ops")
    engine = _engine(path, loaded)
    try:
        x = np.arange(6, dtype=np.float32).reshape(1, 6)
        np.testing.assert_array_equal(_run(engine, x), 2 * x + 1)
        np.testing.assert_array_equal(_run(engine, x - 3), 2 * (x - 3) + 1)
    finally:
        engine.close()
    assert sim.counter("custom_op_compute_calls") == calls + 2
    assert sim.counter("calls:rknn_register_custom_ops") == registrations + 1


def test_all_ops_registered_in_one_call_and_only_once_per_context(sim: Any, build_plugin: Builder,
                                                                  safe_dir: pathlib.Path,
                                                                  tmp_path: pathlib.Path) -> None:
    paths = [str(build_plugin(safe_dir, "libscale.so")),
             str(build_plugin(safe_dir, "libother.so", '-DOP_TYPE="cstOther"'))]
    loaded = load_custom_op_plugins(paths, use_default_dir=False)
    before = sim.counter("calls:rknn_register_custom_ops")
    with RknnContext.init(load_runtime("simulator"), str(_model(tmp_path))) as ctx:
        loaded.register(ctx)
        assert sim.counter("calls:rknn_register_custom_ops") == before + 1
        with pytest.raises(CustomOpPluginError, match="already been registered for this context"):
            loaded.register(ctx)
        with RknnContext.init(load_runtime("simulator"), str(_model(tmp_path))) as other:
            loaded.register(other)  # another context gets its own single call
    assert sim.counter("calls:rknn_register_custom_ops") == before + 2


def test_ops_outlive_the_plugins_object(sim: Any, build_plugin: Builder, safe_dir: pathlib.Path,
                                        tmp_path: pathlib.Path) -> None:
    loaded = load_custom_op_plugins([str(build_plugin(safe_dir, "libscale.so"))], use_default_dir=False)
    engine = _engine(_model(tmp_path, shape=(2, 3)), loaded)
    del loaded
    gc.collect()
    try:
        x = np.full((2, 3), 4.0, np.float32)
        np.testing.assert_array_equal(_run(engine, x), np.full((2, 3), 9.0, np.float32))
    finally:
        engine.close()


def test_session_loads_plugins_from_provider_options(sim: Any, build_plugin: Builder, safe_dir: pathlib.Path,
                                                     tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    path = _model(tmp_path)
    plugin = str(build_plugin(safe_dir, "libscale.so"))
    calls = sim.counter("custom_op_compute_calls")
    dups = sim.counter("calls:rknn_dup_context")
    options = {"runtime_library": "simulator", "custom_op_paths": [plugin], "threads_per_core": 2}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sess = InferenceSession(str(path), provider_options=options)
    assert any(str(w.message) == plugins.DUP_CONTEXT_WARNING and w.category is UserWarning for w in caught)
    with sess:
        assert sim.counter("calls:rknn_dup_context") == dups  # every context made with rknn_init
        x = np.arange(6, dtype=np.float32).reshape(1, 6)
        [y] = sess.run(None, {"x": x})
        np.testing.assert_array_equal(y, 2 * x + 1)
        futures: List[Any] = [sess.submit(None, {"x": x + k}) for k in range(4)]
        for k, f in enumerate(futures):
            np.testing.assert_array_equal(f.result()[0], 2 * (x + k) + 1)
    assert sim.counter("custom_op_compute_calls") >= calls + 5
    # A relative plugin path is refused by the session too.
    with pytest.raises(InvalidOptionError, match="absolute"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dup_context warning may come before the path check
        InferenceSession(str(path), provider_options={"runtime_library": "simulator",
                                                      "custom_op_paths": ["libscale.so"]})


def test_session_zero_copy_uses_the_plugin_too(sim: Any, build_plugin: Builder, safe_dir: pathlib.Path,
                                               tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession

    path = _model(tmp_path)
    options = {"runtime_library": "simulator", "custom_op_paths": [str(build_plugin(safe_dir, "libscale.so"))]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sess = InferenceSession(str(path), provider_options=options)
    with sess:
        registrations = sim.counter("calls:rknn_register_custom_ops")
        dups = sim.counter("calls:rknn_dup_context")
        binding = sess.io_binding()  # the engine's own context: rknn_init + one registration
        assert sim.counter("calls:rknn_register_custom_ops") == registrations + 1
        assert sim.counter("calls:rknn_dup_context") == dups
        x = np.arange(6, dtype=np.float32).reshape(1, 6)
        binding.bind_cpu_input("x", x)
        binding.bind_output("y", "rknpu2")
        sess.run_with_iobinding(binding)
        np.testing.assert_array_equal(binding.copy_outputs_to_cpu()[0], 2 * x + 1)
        del binding
