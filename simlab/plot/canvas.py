"""Figures without pyplot: safe on any thread, shown when a notebook cell ends.

Why not pyplot? pyplot keeps one global list of figures and a "current figure". A
notebook kernel may run widget callbacks on threads of their own (JupyterLab sends
widget messages on kernel subshells, which ipykernel 7 serves each in a thread), and two
threads sharing pyplot's globals draw into each other's figures. A plain
``matplotlib.figure.Figure`` belongs to whoever made it, so every simlab figure is one.

Pyplot gave one thing for free: a figure made in a notebook cell appears when the cell
ends. ``figure()`` keeps that promise itself: in a Jupyter kernel it notes each new
figure, and when the cell that made it ends, shows it as a PNG, the way the inline
backend would. Widgets make their figures inside ``drawing_off_screen()`` and show them
their own way (``simlab.widgets``).

Example:
    >>> fig = figure(figsize=(8, 3))
    >>> left, right = fig.subplots(1, 2)
    >>> fig.savefig("two.png")            # in a script  # doctest: +SKIP
"""

import sys
import threading
from contextlib import contextmanager
from io import BytesIO

import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_this_thread = threading.local()   # .off_screen (a list while a widget draws), .pending
_hook_lock = threading.Lock()
_hooked_shells = set()


def figure(figsize=(7, 3.5), **options):
    """A new ``matplotlib.figure.Figure`` with a constrained layout.

    In a notebook, it is shown when the cell that made it ends (unless a widget is
    drawing it). Any keyword of ``Figure`` is accepted, e.g. ``dpi=``.
    """
    fig = Figure(figsize=figsize, layout=options.pop("layout", "constrained"), **options)
    off_screen = getattr(_this_thread, "off_screen", None)
    if off_screen is not None:
        off_screen.append(fig)
    else:
        _show_when_the_cell_ends(fig)
    return fig


def png_bytes(fig, dpi=100, crop=True, compress_level=6):
    """The figure as PNG bytes.

    ``crop`` trims the white border as a notebook does; it costs a second pass over
    the figure. Without it the figure is laid out and drawn in one pass (a fifth
    faster: what a widget wants). ``compress_level`` 1 encodes several times faster,
    a little larger.
    """
    buffer = BytesIO()
    if crop:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white",
                    pil_kwargs={"compress_level": compress_level})
        return buffer.getvalue()
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(),
                                 "raw", "RGBA", 0, 1)
    image.save(buffer, format="png", compress_level=compress_level)
    return buffer.getvalue()


@contextmanager
def drawing_off_screen():
    """Collect the figures made on this thread instead of showing them at the cell's end.

    Yields the list the new figures are appended to.
    """
    outer = getattr(_this_thread, "off_screen", None)
    _this_thread.off_screen = made = []
    try:
        yield made
    finally:
        _this_thread.off_screen = outer


def _show_when_the_cell_ends(fig):
    shell = _kernel_shell()
    if shell is None:
        return            # a script, or a terminal: savefig is the way out
    with _hook_lock:
        if id(shell) not in _hooked_shells:
            shell.events.register("post_run_cell", _show_pending)
            _hooked_shells.add(id(shell))
    pending = getattr(_this_thread, "pending", None)
    if pending is None:
        pending = _this_thread.pending = []
    pending.append(fig)


def _kernel_shell():
    """The running Jupyter kernel's shell, or None (no IPython, or a terminal IPython)."""
    if "IPython" not in sys.modules:
        return None
    shell = sys.modules["IPython"].get_ipython()
    return shell if shell is not None and hasattr(shell, "kernel") else None


def _show_pending(_result=None):
    # post_run_cell runs on the thread that ran the cell: the figures that cell made.
    pending, _this_thread.pending = getattr(_this_thread, "pending", None) or [], []
    if not pending:
        return
    from IPython.display import Image, display
    for fig in pending:
        if fig.axes:
            display(Image(data=png_bytes(fig), format="png"))
