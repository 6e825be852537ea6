"""contrib/systemd units: systemd-analyze verify accepts them (with the
pubinbox of this checkout in ExecStart), and their commands exist."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli

UNITS = REPO / "contrib" / "systemd"


def test_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze missing (Debian package systemd)", pytrace=False)
    exe = Path(sys.executable).with_name("pubinbox")
    assert exe.exists()
    names = []
    for unit in UNITS.iterdir():
        if unit.suffix not in (".service", ".timer"):
            continue
        name = unit.name.replace("@.", "@mirror.")
        (tmp_path / name).write_text(unit.read_text().replace("/usr/local/bin/pubinbox", str(exe)))
        names.append(name)
    assert {"pubinbox-httpd.service", "pubinbox-watch.service", "pubinbox-fetch@mirror.timer"} <= set(names)
    p = subprocess.run([analyze, "verify", *names], cwd=tmp_path, capture_output=True, text=True, check=False)
    problems = [ln for ln in (p.stdout + p.stderr).splitlines() if "pubinbox" in ln]
    assert p.returncode == 0 and not problems, p.stdout + p.stderr


def test_unit_commands_exist() -> None:
    for unit in ("pubinbox-httpd.service", "pubinbox-watch.service", "pubinbox-fetch@.service"):
        text = (UNITS / unit).read_text()
        verb = text.split("ExecStart=/usr/local/bin/pubinbox ", 1)[1].split()[0]
        p = run_cli(verb, "--help")
        assert p.returncode == 0, (verb, p.stderr)
