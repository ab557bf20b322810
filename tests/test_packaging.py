"""The wheel is what a user on a board installs: it must be pure Python and carry the simulator's C sources.

A plain (non-editable) ``pip install .`` has no ``stubs/`` next to the package, so the simulator must
build from the copy inside the wheel. This test builds the wheel, unpacks it somewhere else, and
builds the simulated runtime from there.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "ztu_somemodelruntime_ez_rknn_async"

pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling (in the test extra)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
    )
    (found,) = out.glob("*.whl")
    return found


def test_wheel_is_pure_python_and_typed(wheel: Path) -> None:
    assert wheel.name.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert f"{PACKAGE}/py.typed" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [
        line.split(":", 1)[1].strip()
        for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert sorted(r.split(">")[0].split("=")[0].strip() for r in requires) == ["numpy", "typing-extensions"]


def test_installed_package_builds_the_simulator_from_its_own_sources(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    sources = sorted(p.name for p in (site / PACKAGE / "_sim_src").iterdir())
    assert sources == sorted(p.name for p in (REPO / "stubs").iterdir() if p.suffix in (".c", ".h"))
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        f"from {PACKAGE} import simulator\n"
        "src = simulator.source_dir(); assert '_sim_src' in str(src), src\n"
        "lib = simulator.library_path(); assert lib.startswith(sys.argv[2]), lib\n"
        "print(simulator.control().version())\n"
    )
    env = dict(os.environ, ZTU_RKNN_SIM_CACHE=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-c", script, str(site), str(tmp_path / "cache")],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
