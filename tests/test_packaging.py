"""The sdist and wheel build, and the wheel's console script runs from a fresh venv."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from echo_tui import __version__

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_wheel_builds_and_its_console_script_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # The wheel is built from the sdist, so whatever the sdist lacks, the wheel lacks too.
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = dist.glob("echo_tui-*.whl")
    assert len(list(dist.glob("echo_tui-*.tar.gz"))) == 1
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"echo_tui-{__version__}.dist-info"
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    assert {"echo_tui/py.typed", "echo_tui/ui/echo_tui.tcss"} <= names
    assert f"{info}/licenses/LICENSE" in names
    assert metadata["License-Expression"] == "MIT"
    requires = " ".join(metadata.get_all("Requires-Dist"))
    for dependency in ("textual", "rich", "prometheus_client"):
        assert dependency in requires
    assert "Typing :: Typed" in metadata.get_all("Classifier")

    # A fresh venv gets the wheel alone; the dependencies come from this environment
    # (a .pth line, so no network is needed), and not echo_tui: that must be the wheel's.
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    version = subprocess.run(
        [fresh / "bin" / "echo-tui", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"echo-tui {__version__} (Python ")
    where = subprocess.run(
        [python, "-c", "import echo_tui.ui.app, echo_tui; print(echo_tui.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(fresh)
