"""An output that cannot be written (a path under a regular file, a full disk): one line naming the path,
exit code 2, the previous result untouched and no staging directory or temporary file left behind."""

import errno
import hashlib
import io
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tf2eng
import tf2eng.engine.output as output_module
from tf2eng.cli.app import app
from tf2eng.engine.errors import InputError, OutputError
from tf2eng.engine.synth import write_synthetic

runner = CliRunner()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("full") / "synth.parquet"
    write_synthetic(path, 400, seed=4)
    return path


def _tree(root: Path) -> dict:
    """Every file under root (hidden ones included) with the SHA-256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(root: Path) -> list[str]:
    """Staging directories and temporary files anywhere under root."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.endswith(".staging") or p.name.endswith(".tmp") or p.name.endswith(".previous"))


def test_output_under_a_regular_file(synthetic, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    out = tmp_path / "file" / "out"
    with pytest.raises(OutputError, match="file/out") as caught:
        tf2eng.run(synthetic, out, plot=False)
    assert isinstance(caught.value, InputError) and "\n" not in str(caught.value)
    result = runner.invoke(app, ["run", str(synthetic), "-o", str(out), "--no-plot"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("tf2eng: error: ") and str(out) in line and "internal error" not in line
    assert (tmp_path / "file").read_text() == "not a directory"
    assert _leftovers(tmp_path) == []


class _FullDisk(io.RawIOBase):
    """A file on a disk that is full: every write fails with ENOSPC."""

    def __init__(self, path):
        super().__init__()
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()

    def writable(self):
        return True

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        if not self.closed:
            self._file.close()
        super().close()


@pytest.fixture
def disk_full_for(monkeypatch):
    """Make every write to an output file whose name matches ``pattern`` fail with ENOSPC (the files of an
    output are all opened through engine/output.py)."""

    def arm(pattern: str):
        real_open = open

        def fake_open(path, mode="r", *args, **kwargs):
            if "w" in mode and re.search(pattern, Path(path).name):
                return _FullDisk(path)
            return real_open(path, mode, *args, **kwargs)

        monkeypatch.setattr(output_module, "open", fake_open, raising=False)

    return arm


# Each file of an output, as a pattern of its name: the units' parts, rejected rows and
# aggregates, the aggregate tables, the whole-run rejected rows and the summary.
OUTPUT_FILES = [r"^part-", r"\.rejected\.parquet", r"\.npz", r"^stage_means\.parquet", r"^curve\.parquet",
                r"^rejected\.parquet", r"^summary\.json"]


@pytest.mark.parametrize("pattern", OUTPUT_FILES)
def test_disk_full_through_the_api(synthetic, tmp_path, disk_full_for, pattern):
    out = tmp_path / "out"
    tf2eng.run(synthetic, out, plot=False, lam=0.5)
    before = _tree(out)
    disk_full_for(pattern)
    with pytest.raises(OutputError) as caught:
        tf2eng.run(synthetic, out, plot=False)
    message = str(caught.value)
    assert "\n" not in message and "No space left on device" in message
    assert message.startswith(str(tmp_path)) and re.search(pattern, Path(message.split(":")[0]).name)
    assert _tree(out) == before
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("pattern", [r"^part-", r"\.npz", r"^curve\.parquet", r"^summary\.json"])
def test_disk_full_through_the_cli(synthetic, tmp_path, disk_full_for, pattern):
    disk_full_for(pattern)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(synthetic), "-o", str(out), "--no-plot"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("tf2eng: error: ") and "No space left on device" in line and str(tmp_path) in line
    assert not out.exists() and _leftovers(tmp_path) == []


def test_disk_full_while_plotting(synthetic, tmp_path, monkeypatch):
    import matplotlib.figure

    def savefig(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "out"
    tf2eng.run(synthetic, out, plot=False)
    before = _tree(out)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    result = runner.invoke(app, ["run", str(synthetic), "-o", str(out)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "No space left on device" in line and str(out) in line
    assert _tree(out) == before and _leftovers(tmp_path) == []


@pytest.mark.parametrize("dangling", [False, True])
def test_output_through_a_symbolic_link(synthetic, tmp_path, dangling):
    """-o naming a symbolic link writes the directory it points to (made there if it does not exist yet);
    the link stays a link, and nothing is left beside it."""
    target = tmp_path / "disk" / "results"
    if not dangling:
        tf2eng.run(synthetic, out=target, plot=False)
    link = tmp_path / "results"
    link.symlink_to(target, target_is_directory=True)
    result = runner.invoke(app, ["run", str(synthetic), "-o", str(link), "--no-plot", "-q", "--stages", "7"])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert (target / "summary.json").exists() and '"stages": 7' in (target / "summary.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "results"]
    assert not _leftovers(tmp_path / "disk")
