"""The console script ends an interrupt (Ctrl-C) while the CLI loads, or while typer builds the command,
with one line and exit code 130, not a traceback."""

import sys

import pytest

from tf2eng.cli import entry


class _InterruptingImport:
    """Stands for a Ctrl-C that arrives while cli/app.py is imported."""

    def find_spec(self, name, path=None, target=None):
        if name == "tf2eng.cli.app":
            raise KeyboardInterrupt
        return None


def test_an_interrupt_while_the_cli_loads_ends_with_one_line(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "tf2eng.cli.app", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_InterruptingImport(), *sys.meta_path])
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "tf2eng: error: interrupted\n"


def test_an_interrupt_before_the_run_guards_itself_ends_with_one_line(monkeypatch, capsys):
    from tf2eng.cli import app

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(app, "main", interrupted)
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "tf2eng: error: interrupted\n"


def test_the_console_script_is_the_entry(monkeypatch, capsys):
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "tf2eng"]
    assert script.value == "tf2eng.cli.entry:main"
    monkeypatch.setattr(sys, "argv", ["tf2eng", "--version"])
    with pytest.raises(SystemExit) as stopped:
        script.load()()
    assert stopped.value.code in (0, None)
    assert "0.1.0" in capsys.readouterr().out
