"""The console script ends an interrupt (Ctrl-C) while the CLI loads, or while typer builds the command,
with one line and exit code 130, not a traceback."""

import subprocess
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


def test_the_console_script_is_the_entry():
    """In a process of its own: the command's main sets up its process (startup.loading, the option
    coercion, the environment), which would change how later tests' in-process runs behave."""
    program = ("import sys\n"
               "from importlib.metadata import entry_points\n"
               "(script,) = [e for e in entry_points(group='console_scripts') if e.name == 'tf2eng']\n"
               "print(script.value)\n"
               "sys.argv = ['tf2eng', '--version']\n"
               "script.load()()\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    value, version = done.stdout.splitlines()
    assert value == "tf2eng.cli.entry:main"
    assert "0.1.0" in version


def test_python_m_tf2eng_ends_an_interrupt_while_it_loads_with_one_line(monkeypatch, capsys):
    """`python -m tf2eng` runs what the console script runs: a Ctrl-C while the CLI loads is one line and
    exit code 130, not a traceback."""
    import runpy

    monkeypatch.delitem(sys.modules, "tf2eng.cli.app", raising=False)
    monkeypatch.delitem(sys.modules, "tf2eng.__main__", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_InterruptingImport(), *sys.meta_path])
    monkeypatch.setattr(sys, "argv", ["tf2eng", "--version"])
    with pytest.raises(SystemExit) as stopped:
        try:
            runpy.run_module("tf2eng", run_name="__main__")
        except KeyboardInterrupt:
            pytest.fail("the interrupt went through as a traceback")
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "tf2eng: error: interrupted\n"
