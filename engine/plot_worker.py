"""The figure of a ``tf2eng run``, painted in a second process (README, "Start-up and compilation").

Loading matplotlib and drawing a first figure (fonts, the TeX-like labels,
the PNG writer) took about 0.7 s of a run on the demo data, one after the
other with the run's own work.  The command starts a second Python process
at its beginning (:func:`start`); it loads matplotlib and paints a small
figure while the run reads and computes on the other core.  At the end the
run plans the figure here (:func:`tf2eng.engine.plot.plan`: the curves and
the shading, with this process's kernels and tables) and sends the plan;
the second process paints and saves it with :func:`tf2eng.engine.plot.paint`,
the code that paints in this process too, so the file holds the same bytes.

Whatever goes wrong there (it cannot start, matplotlib cannot load, the file
cannot be written) the figure is painted in this process instead, which
then reports the error as a run without the second process would.  Without
:func:`start` (``tf2eng.run`` from Python, the CLI called from a program) all
is painted in this process.
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys

from .lazy import Unavailable

_worker: list = []  # the started process, while this process has one


def start() -> None:
    """Start the painting process (once)."""
    if _worker:
        return
    code = (f"import sys; sys.path[:] = {sys.path!r}; "
            f"from {__package__}.plot_worker import serve; serve()")
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None if os.environ.get("TF2ENG_DEBUG") else subprocess.DEVNULL)
    except OSError:
        return  # painted here
    _worker.append(process)


def stop() -> None:
    """End the painting process if it is still there (a run that failed, or drew no figure)."""
    while _worker:
        process = _worker.pop()
        if process.poll() is None:
            process.kill()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        process.wait()


def render(stages_dir, path, curve, groups, group_tracks, options, plot_format: str, plot_dpi: int) -> None:
    """Draw the run's figure from its curve table (Arrow) and stages/ rows and save it at ``path``: in
    the painting process where one was started, else (or where it fails) here."""
    from . import plot

    if not _worker:
        plot.render(stages_dir, path, curve, groups, group_tracks, options, plot_format, plot_dpi)
        return
    painting = plot.plan(stages_dir, curve, groups, group_tracks, options)
    if not _paint_elsewhere((painting, str(path), plot_format, plot_dpi)):
        plot.paint(painting, path, plot_format, plot_dpi)


def _paint_elsewhere(job: tuple) -> bool:
    """Whether the painting process painted and saved ``job``."""
    if not _worker:
        return False
    process = _worker[0]
    try:
        try:
            pickle.dump(job, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            process.stdin.close()
            reply = pickle.load(process.stdout)
        except (OSError, EOFError, pickle.PickleError, AttributeError, TypeError, ValueError):
            return False
        return reply == "saved"
    finally:
        stop()


def serve() -> None:
    """The painting process: load matplotlib and paint a small figure, then paint the one job that
    comes on stdin and answer "saved" (or why not) on stdout."""
    gc.disable()  # a short process: its objects are freed when it ends
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, Unavailable("pandas"))
    out = sys.stdout.buffer
    try:
        _skip_setter_docs()
        from .plot import paint

        _warm_up()
    except BaseException as exc:  # noqa: BLE001 - the command paints in its own process instead
        paint = None
        failure = f"cannot load: {type(exc).__name__}: {exc}"
    try:
        job = pickle.load(sys.stdin.buffer)
    except BaseException:  # noqa: BLE001 - the command ended or has no figure to draw
        os._exit(0)
    if paint is None:
        reply = failure
    else:
        try:
            paint(*job)
            reply = "saved"
        except BaseException as exc:  # noqa: BLE001 - the command paints again, and reports the error
            reply = f"failed: {type(exc).__name__}: {exc}"
    pickle.dump(reply, out)
    out.flush()
    os._exit(0)


def _skip_setter_docs() -> None:
    """As each artist class is made, matplotlib writes the documentation of its ``set()`` method
    (``matplotlib.artist.kwdoc``): a third of its import, for ``help()`` only.  This process shows no
    help, so there it writes none.  Where matplotlib has no such function, nothing is changed."""
    import matplotlib.artist as artist

    if callable(getattr(artist, "kwdoc", None)):
        artist.kwdoc = lambda artist_class: ""


def _warm_up() -> None:
    """Paint and save a small figure of the kind a run draws (its labels, a shading, a legend), so that
    the fonts, the TeX-like labels and the PNG writer are loaded before the run's figure comes."""
    import io

    import numpy as np

    from .plot import X_LABEL, matplotlib_figure, save

    fig = matplotlib_figure()(figsize=(2, 2))
    ax = fig.subplots()
    ax.imshow(np.zeros((2, 2)), cmap="Greys", aspect="auto")
    ax.plot([0.0, 1.0], [0.0, 1.0], color="red", label="mean")
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(r"$Y_k$ ($S^{\lambda}$, $\lambda$=0.7)")
    ax.set_title("0 tracks", fontsize=10, parse_math=False)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.suptitle("warm-up", fontsize=12)
    save(fig, io.BytesIO(), "png", 20)
