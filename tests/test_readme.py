"""The README (and the pages in ``docs/`` other than DESIGN.md) must stay true to the code.

* Every fenced ```` ```python ```` block runs, as a user would run it, in a fresh interpreter inside a temporary
  directory holding the models the examples name (``model.rknn`` with an input ``images``, ...), with
  ``ZTU_RKNPU2_RUNTIME_LIBRARY=simulator``.  A block that only works on a board is preceded by an HTML comment
  ``<!-- no-test: reason -->``.
* The two commands of the README are the ones ``.ci/run`` runs.
* The provider-option and run-option tables list exactly the keys ``options.py`` accepts, with its defaults.
* Every ``ez-rknn`` subcommand and option is documented; relative links and ``#anchors`` resolve.
* Every test the feature table cites as proof exists; every ``get_stats()`` key, every name in ``__all__`` and
  every ``RKNN_SIM_*`` variable the simulator reads is documented; the board command is the one
  ``tests/board`` gives.
"""
from __future__ import annotations

import argparse
import ast
import os
import pathlib
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import pytest

import ztu_somemodelruntime_ez_rknn_async as ez
from ztu_somemodelruntime_ez_rknn_async import options

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI_SCRIPT = ROOT / ".ci" / "run"
#: Pages whose examples are user code. DESIGN.md holds signatures and formats, not runnable examples.
PAGES = [README] + sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "DESIGN.md")

NO_TEST = re.compile(r"^<!--\s*no-test\b.*-->$")
TWO_COMMANDS_MARKER = "<!-- the-two-commands -->"


@dataclass(frozen=True)
class Block:
    page: pathlib.Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str  # the HTML comment on the line before the fence ("" if none)

    @property
    def id(self) -> str:
        return "{}:{}".format(self.page.name, self.line)


def code_blocks(page: pathlib.Path) -> List[Block]:
    """Fenced blocks of a Markdown page, with the HTML comment (if any) on the line before each."""
    blocks: List[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m is None:
            i += 1
            continue
        start = i
        prev = lines[i - 1].strip() if i > 0 else ""
        i += 1
        body: List[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        assert i < len(lines), "{}:{}: unterminated code block".format(page.name, start + 1)
        blocks.append(Block(page, start + 1, m.group(1), "\n".join(body) + "\n",
                            prev if prev.startswith("<!--") else ""))
        i += 1
    return blocks


def python_blocks() -> List[Block]:
    return [b for page in PAGES if page.exists() for b in code_blocks(page) if b.lang == "python"]


# ------------------------------------------------------------------------------------------- the examples

def write_example_models(directory: pathlib.Path) -> None:
    """Every model the examples open, written for the simulator into ``directory``."""
    from ztu_somemodelruntime_ez_rknn_async import simulator
    from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

    image = TensorSpec("images", (1, 3, 224, 224), dtype="int8", scale=1 / 128)
    logits = TensorSpec("output", (1, 1000), dtype="int8", scale=0.05)
    simulator.write_model(directory / "model.rknn", [image], [logits], latency_us=1000,
                          custom_string="classes=1000")
    simulator.write_model(directory / "master.rknn", [image], [logits], latency_us=1000,
                          weights_id="readme-weights")
    simulator.write_model(directory / "slave.rknn", [TensorSpec("images", (1, 3, 320, 320), dtype="int8",
                                                                scale=1 / 128)],
                          [logits], latency_us=1000, weights_from="readme-weights")
    rows = [(1, 3, 224, 224), (1, 3, 320, 320)]
    simulator.write_model(directory / "dynamic.rknn", [TensorSpec("images", rows[0], shapes=rows)],
                          [TensorSpec("output", rows[0], shapes=rows)], latency_us=500)


@pytest.fixture()
def example_dir(tmp_path: pathlib.Path, sim_library: str) -> pathlib.Path:
    """A directory with every model the examples open."""
    write_example_models(tmp_path)
    return tmp_path


def _example_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RKNN_SIM_")}
    env["ZTU_RKNPU2_RUNTIME_LIBRARY"] = "simulator"
    # The package this test run imported (a checkout or an installed copy), ahead of anything else.
    package_parent = str(pathlib.Path(ez.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    return env


def test_pages_have_python_examples() -> None:
    assert README.exists(), "README.md is missing"
    assert len([b for b in python_blocks() if b.page == README]) >= 10


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in python_blocks()])
def test_python_example_runs(block: Block, example_dir: pathlib.Path) -> None:
    if NO_TEST.match(block.marker):
        pytest.skip("marked {}".format(block.marker))
    script = example_dir / "example.py"
    script.write_text(block.code, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=str(example_dir), env=_example_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=180)
    assert proc.returncode == 0, "{} failed (exit {}):\n--- code\n{}--- stdout\n{}--- stderr\n{}".format(
        block.id, proc.returncode, block.code, proc.stdout, proc.stderr)


def test_no_test_markers_give_a_reason() -> None:
    for page in PAGES:
        if not page.exists():
            continue
        for block in code_blocks(page):
            if block.marker.startswith("<!-- no-test"):
                assert re.match(r"^<!--\s*no-test:\s*\S.*-->$", block.marker), "{}: {}".format(block.id, block.marker)


# ------------------------------------------------------------------------------------------- the two commands

def readme_commands() -> List[str]:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert TWO_COMMANDS_MARKER in lines, "README.md lost the {} marker".format(TWO_COMMANDS_MARKER)
    at = lines.index(TWO_COMMANDS_MARKER) + 1
    blocks = [b for b in code_blocks(README) if b.line == at + 1 or b.line == at]
    assert blocks, "no code block right after {}".format(TWO_COMMANDS_MARKER)
    return [ln.strip() for ln in blocks[0].code.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def test_the_two_commands_are_the_ones_ci_runs() -> None:
    commands = readme_commands()
    assert commands == [
        "python -m pip install . && ez-rknn demo",
        'python -m pip install ".[test]" && python -m pytest',
    ]
    if not CI_SCRIPT.exists():
        pytest.skip(".ci/run is not part of this tree (sdist)")
    ci = [ln.strip() for ln in CI_SCRIPT.read_text(encoding="utf-8").splitlines()]
    for command in commands:
        assert command in ci, "README command {!r} is not run by .ci/run".format(command)


def test_the_checks_for_contributors_are_the_ones_ci_runs() -> None:
    if not CI_SCRIPT.exists():
        pytest.skip(".ci/run is not part of this tree (sdist)")
    ci = CI_SCRIPT.read_text(encoding="utf-8")
    text = README.read_text(encoding="utf-8")
    lines = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.strip().startswith(("#", "echo"))]
    for tool in ("mypy", "vermin"):
        ci_lines = [ln for ln in lines if re.search(r"(^|\s){}\s".format(tool), ln)]
        assert ci_lines, ".ci/run no longer runs {}".format(tool)
        for ci_line in ci_lines:
            assert ci_line in text, "README does not show .ci/run's {!r}".format(ci_line)


# ------------------------------------------------------------------------------------------- option tables

def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section (up to the next heading of level 2)."""
    m = re.search(r"^## {}\s*$(.*?)(?=^## |\Z)".format(re.escape(heading)), text, re.MULTILINE | re.DOTALL)
    assert m is not None, "README has no section '## {}'".format(heading)
    return m.group(1)


def table_rows(body: str) -> Dict[str, str]:
    """``{key: default cell}`` of the first ``| Key | Default | Meaning |`` table in ``body``."""
    rows: Dict[str, str] = {}
    started = False
    for line in body.splitlines():
        if line.startswith("| Key | Default |"):
            started = True
            continue
        if not started:
            continue
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set(cells[0]) <= {"-", ":"}:
            continue
        key = re.fullmatch(r"`([^`]+)`", cells[0])
        assert key is not None, "table row without a `key`: {}".format(line)
        rows[key.group(1)] = cells[1]
    assert rows, "no option table found"
    return rows


def literal(cell: str) -> Any:
    m = re.fullmatch(r"`([^`]+)`", cell)
    assert m is not None, "default {!r} is not a `literal`".format(cell)
    return ast.literal_eval(m.group(1))


def normalise(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


PROVIDER_FIELD = {"custom_op_path": "custom_op_paths", "load_custom_ops_from_default_path": "custom_op_default_path"}
RUN_FIELD = {"ztu_modelrt_dispatch_batch": "dispatch_batch"}


def test_provider_option_table_lists_every_key_with_its_default() -> None:
    rows = table_rows(section(README.read_text(encoding="utf-8"), "Provider options"))
    assert sorted(rows) == sorted(options.PROVIDER_OPTION_KEYS)
    config = options.ProviderConfig()
    for key, cell in rows.items():
        field = PROVIDER_FIELD.get(key, key)
        assert normalise(literal(cell)) == normalise(getattr(config, field)), key


def test_run_option_table_lists_every_key_with_its_default() -> None:
    rows = table_rows(section(README.read_text(encoding="utf-8"), "Run options"))
    assert sorted(rows) == sorted(options.RUN_OPTION_KEYS)
    config = options.RunConfig()
    for key, cell in rows.items():
        assert literal(cell) == getattr(config, RUN_FIELD.get(key, key)), key


def test_documented_defaults_are_what_a_session_reports(sim_library: str, tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator
    from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

    path = simulator.write_model(tmp_path / "m.rknn", [TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))],
                                 latency_us=0)
    rows = table_rows(section(README.read_text(encoding="utf-8"), "Provider options"))
    with InferenceSession(str(path), provider_options={"runtime_library": "simulator"}) as sess:
        reported = sess.get_provider_options()["RKNPU2ExecutionProvider"]
        np.testing.assert_array_equal(sess.run(None, [np.ones((1, 4), np.float32)])[0], np.ones((1, 4)))
    for key, text in reported.items():
        if key == "runtime_library":
            continue  # set above
        value = literal(rows[key])
        shown = ("1" if value else "0") if isinstance(value, bool) else str(value)
        assert shown == text, "{}: README says {}, the session reports {!r}".format(key, rows[key], text)


# ------------------------------------------------------------------------------------------- the CLI

def _subcommands(parser: argparse.ArgumentParser, prefix: str) -> Iterator[Tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:  # noqa: SLF001 - argparse exposes subparsers no other way
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                full = "{} {}".format(prefix, name)
                nested = list(_subcommands(sub, full))
                if nested:
                    yield from nested
                else:
                    yield full, sub


def test_every_cli_subcommand_and_option_is_documented() -> None:
    from ztu_somemodelruntime_ez_rknn_async import cli

    body = section(README.read_text(encoding="utf-8"), "The `ez-rknn` command")
    commands = list(_subcommands(cli.build_parser(), cli.PROG))
    assert {c for c, _ in commands} >= {"ez-rknn info", "ez-rknn bench", "ez-rknn demo", "ez-rknn sim path"}
    for command, parser in commands:
        assert "`{}".format(command) in body, "{} is not documented".format(command)
        for action in parser._actions:  # noqa: SLF001
            longs = [s for s in action.option_strings if s.startswith("--") and s != "--help"]
            if longs:
                assert any(s in body for s in longs), "{} {} is not documented".format(command, longs[0])
            if "--mode" in action.option_strings and action.choices:
                for choice in action.choices:
                    assert "`{}`".format(choice) in body, "{} --mode {} is not documented".format(command, choice)


# ------------------------------------------------------------------------------------------- links

def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("page", [pytest.param(p, id=p.name) for p in PAGES if p.exists()])
def test_links_resolve(page: pathlib.Path) -> None:
    text = page.read_text(encoding="utf-8")
    in_code = False
    headings: List[str] = []
    prose: List[str] = []
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        prose.append(line)
        m = re.match(r"^#{1,6} (.*)$", line)
        if m:
            headings.append(_slug(m.group(1)))
    for target in re.findall(r"\]\(([^)\s]+)\)", "\n".join(prose)):
        if re.match(r"^[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (page.parent / path).exists(), "{}: broken link {}".format(page.name, target)
        elif anchor:
            assert anchor in headings, "{}: no heading for #{}".format(page.name, anchor)


def test_slug_matches_github() -> None:
    assert _slug("The `ez-rknn` command") == "the-ez-rknn-command"
    assert _slug("Back-pressure, pacing, timeouts, closing") == "back-pressure-pacing-timeouts-closing"
    assert _slug("On a board: the smoke test") == "on-a-board-the-smoke-test"


# ------------------------------------------------------------------------------------------- feature table

def test_feature_table_cites_tests_that_exist() -> None:
    """Every test the feature comparison cites as proof exists (file, and function when named)."""
    body = section(README.read_text(encoding="utf-8"), "Feature comparison")
    rows = [ln for ln in body.splitlines() if ln.startswith("| ") and not ln.startswith("| Feature |")]
    assert len(rows) >= 20
    for row in rows:
        proof = row.strip().strip("|").split("|")[-1]
        current = ""
        cited = re.findall(r"`([^`]+)`", proof)
        assert cited or "whole suite" in proof, "no test cited: {}".format(row)
        for token in cited:
            if not re.fullmatch(r"(test_\w+\.py)?(::\w+)?", token) or not token:
                continue  # `.ci/run`, option names, ...
            file, _, func = token.partition("::")
            if file:
                current = file
                assert (ROOT / "tests" / file).exists(), "tests/{} does not exist ({})".format(file, row)
            if func:
                assert current, token
                text = (ROOT / "tests" / current).read_text(encoding="utf-8")
                assert re.search(r"^(async )?def {}\(".format(re.escape(func)), text, re.MULTILINE), (
                    "tests/{}::{} does not exist".format(current, func))


def test_statistics_section_names_every_key(sim_library: str, tmp_path: pathlib.Path) -> None:
    from ztu_somemodelruntime_ez_rknn_async import InferenceSession, simulator
    from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec

    path = simulator.write_model(tmp_path / "m.rknn", [TensorSpec("x", (1, 4))], [TensorSpec("y", (1, 4))],
                                 latency_us=0)
    body = section(README.read_text(encoding="utf-8"), "Statistics")
    with InferenceSession(str(path), provider_options={"runtime_library": "simulator"}) as sess:
        sess.run(None, [np.ones((1, 4), np.float32)])
        stats = sess.get_stats()
    keys = set(stats) | set(stats["slots"][0]) | set(stats["run_latency"])
    missing = sorted(k for k in keys if "`{}`".format(k) not in body)
    assert not missing, "get_stats() keys missing from the README's Statistics section: {}".format(missing)


def test_every_public_name_is_documented() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in PAGES if p.exists())
    missing = [name for name in ez.__all__ if "`{}".format(name) not in text]
    assert not missing, "public names not mentioned in README.md or docs/: {}".format(missing)


# ------------------------------------------------------------------------------------------- environment, board

def test_every_simulator_environment_variable_is_documented() -> None:
    """The simulator's table lists exactly the RKNN_SIM_* variables the C sources read."""
    from ztu_somemodelruntime_ez_rknn_async import simulator

    read = set()
    for source in simulator.source_dir().glob("*.c"):
        read |= set(re.findall(r'getenv\("(RKNN_SIM_\w+)"\)', source.read_text(encoding="utf-8")))
    assert read, "no RKNN_SIM_* variable found in the simulator sources"
    body = section(README.read_text(encoding="utf-8"), "The simulator (developing on a PC)")
    documented = set(re.findall(r"^\| `(RKNN_SIM_\w+)` \|", body, re.MULTILINE))
    assert documented == read


def test_board_smoke_test_command_is_the_one_its_file_gives() -> None:
    board = ROOT / "tests" / "board" / "test_board_smoke.py"
    if not board.exists():
        pytest.skip("tests/board/test_board_smoke.py is not part of this tree")
    command = next(ln.strip() for ln in board.read_text(encoding="utf-8").splitlines()
                   if "python -m pytest tests/board" in ln)
    assert command in section(README.read_text(encoding="utf-8"), "On a board: the smoke test")
