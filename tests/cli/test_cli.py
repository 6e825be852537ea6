"""The pubinbox command, run as a real process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import REPO, epoch_log, init_inbox, make_msg, run_cli


def test_init_writes_public_inbox_config(tmp_path: Path) -> None:
    d = init_inbox(tmp_path, "test", "test@example.com", "-L", "basic", "--ng", "inbox.test", "-c", "feedmax=10")
    cfg = Path(os.environ["HOME"]) / ".public-inbox" / "config"
    text = cfg.read_text()
    assert '[publicinbox "test"]' in text
    for line in (
        f"inboxdir = {d}",
        "address = test@example.com",
        "url = http://example.com/test",
        "indexlevel = basic",
        "newsgroup = inbox.test",
        "feedmax = 10",
    ):
        assert line in text
    assert (d / "git" / "0.git" / "objects").is_dir()
    assert (d / "msgmap.sqlite3").is_file() and (d / "inbox.lock").is_file()
    assert (d / "description").read_text() == "public inbox for test@example.com\n"


def test_init_rejects_bad_names(tmp_path: Path) -> None:
    p = run_cli("init", "bad/name", str(tmp_path / "x"), "http://x", "a@b")
    assert p.returncode != 0 and b"invalid inbox name" in p.stderr and b"Traceback" not in p.stderr
    p = run_cli("init", "-V1", "v1", str(tmp_path / "x"), "http://x", "a@b")
    assert p.returncode != 0 and b"v1" in p.stderr


def test_import_sample_then_info(tmp_path: Path, sample_mbox: Path) -> None:
    d = init_inbox(tmp_path)
    p = run_cli("import", "test", str(sample_mbox), check=True)
    summary = p.stderr.decode()
    assert "added 295, duplicates 0, rejected 0" in summary, summary
    assert len(epoch_log(d / "git" / "0.git")) == 295
    # importing again adds nothing
    p = run_cli("import", str(d), str(sample_mbox), check=True)
    assert "added 0, duplicates 295" in p.stderr.decode()
    p = run_cli("info", "test", check=True)
    assert "messages: 295 (articles 1-295)" in p.stdout.decode()


def test_import_stdin_and_eml(tmp_path: Path) -> None:
    init_inbox(tmp_path)
    run_cli("import", "test", stdin=make_msg(1), check=True)
    eml = tmp_path / "two.eml"
    eml.write_bytes(make_msg(2))
    p = run_cli("import", "test", str(eml), check=True)
    assert "added 1," in p.stderr.decode()


def test_errors_are_one_line(tmp_path: Path) -> None:
    init_inbox(tmp_path)
    for args in (
        ("import", "nosuch", "/dev/null"),
        ("import", "test", str(tmp_path / "missing.mbox")),
        ("index", str(tmp_path / "nope")),
        ("info", "nosuch"),
    ):
        p = run_cli(*args)
        assert p.returncode != 0, args
        err = p.stderr.decode()
        assert "Traceback" not in err and err.strip().count("\n") == 0, (args, err)
    bad = tmp_path / "bad.config"
    bad.write_text("[publicinbox\n")
    p = run_cli("--config", str(bad), "info", "x")
    assert p.returncode == 78 and "bad config" in p.stderr.decode()


def test_index_reindex_keeps_numbers(tmp_path: Path, sample_mbox: Path) -> None:
    d = init_inbox(tmp_path)
    run_cli("import", "test", str(sample_mbox), check=True)
    before = run_cli("info", "test", "-n", "50", check=True).stdout
    p = run_cli("index", "--reindex", str(d), check=True)
    assert "indexed 295 messages" in p.stderr.decode()
    assert run_cli("info", "test", "-n", "50", check=True).stdout == before
    p = run_cli("index", str(d), check=True)
    assert "indexed 0 messages" in p.stderr.decode()


def test_readme_exists() -> None:
    assert (REPO / "README.md").is_file()


def test_import_keeps_what_was_read_before_a_bad_file(tmp_path: Path) -> None:
    init_inbox(tmp_path)
    good = tmp_path / "good.eml"
    good.write_bytes(make_msg(1))
    p = run_cli("import", "test", str(good), str(tmp_path / "missing.mbox"))
    err = p.stderr.decode()
    assert p.returncode == 66 and "added 1," in err and "missing.mbox" in err and "Traceback" not in err
    p = run_cli("info", "test", check=True)
    assert "messages: 1 " in p.stdout.decode()


def test_q_json_mboxrd_threads_and_errors(tmp_path: Path, sample_mbox: Path) -> None:
    import json

    d = init_inbox(tmp_path)
    run_cli("import", "test", str(sample_mbox), check=True)
    query = "s:fsconfig f:gscrivan"
    p = run_cli("q", "-I", "test", query, check=True)
    hits = json.loads(p.stdout)
    assert hits and all("fsconfig" in h["subject"] and "gscrivan" in h["from"] for h in hits)
    assert [h["rt"] for h in hits] == sorted((h["rt"] for h in hits), reverse=True)  # newest first
    p = run_cli("q", "-t", "-I", str(d), query, check=True)
    threads = json.loads(p.stdout)
    assert len(threads) > len(hits)  # whole threads: the replies by others too
    out = tmp_path / "res.mbox"
    run_cli("q", "-o", f"mboxrd:{out}", query, check=True)
    assert out.read_bytes().count(b"From mboxrd@z ") == len(hits)
    p = run_cli("q", "s:(unbalanced")
    assert p.returncode == 2 and b"unbalanced" in p.stderr and b"Traceback" not in p.stderr
    init_inbox(tmp_path, "plain", "plain@example.com", "-L", "basic")
    p = run_cli("q", "-I", "plain", "foo")
    assert p.returncode == 69 and b"basic" in p.stderr


def test_serve_checks_server_settings_at_start(tmp_path: Path) -> None:
    """A bad value of a setting the workers read stops ``serve`` before any
    worker starts: exit 78 (EX_CONFIG), the key named, no traceback."""
    init_inbox(tmp_path)
    cfg = Path(os.environ["HOME"]) / ".public-inbox" / "config"
    for key, bad in (("pubinbox.busypoll", "ten"), ("pubinbox.deltacache", "lots"), ("pubinbox.nntpidletimeout", "-3")):
        subprocess.run(["git", "config", "-f", str(cfg), key, bad], check=True)
        p = run_cli("serve", "--http", "127.0.0.1:0", timeout=60)
        err = p.stderr.decode()
        assert p.returncode == 78 and key.split(".")[1] in err and "Traceback" not in err, (key, err)
        subprocess.run(["git", "config", "-f", str(cfg), "--unset", key], check=True)


def test_every_verb_is_found_and_imports_only_its_module() -> None:
    """Verbs are imported when asked for (cli.VERBS): every ``@cli.command``
    in pubinbox/cli is listed there, and ``index`` starts without the web
    server's modules."""
    import re
    import sys

    import click

    from pubinbox.cli import VERBS, cli

    declared = set()
    for path in (REPO / "src" / "pubinbox" / "cli").glob("*.py"):
        for name in re.findall(r'@cli\.command\("([a-z]+)"\)', path.read_text()):
            declared.add(name)
            assert VERBS.get(name) == path.stem, (name, path.stem)
    assert declared == set(VERBS)
    with click.Context(cli) as ctx:
        assert all(cli.get_command(ctx, name) is not None for name in VERBS)
        assert sorted(cli.list_commands(ctx)) == sorted(VERBS)
    code = (
        "import sys; from pubinbox.cli import cli; cli(['index', '--help'], standalone_mode=False);"
        " print(sorted(m for m in sys.modules if m.startswith(('pubinbox.cli.', 'asyncio', 'pubinbox.web'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert (
        "'pubinbox.cli.index'" in out and "serve" not in out and "asyncio" not in out and "pubinbox.web" not in out
    ), out
