"""Live controls for lessons: move a slider, the simulation re-runs, the figure redraws.

Example (in a notebook):
    >>> import simlab as sl
    >>> from simlab.widgets import explore, slider
    >>> def show(rate):
    ...     result = sl.scenarios.shop(rate=rate).run()
    ...     ax = sl.plot.latency_over_time(result)
    ...     return ax.figure, f"{len(result.requests)} requests"
    >>> explore(show, rate=slider("orders/s", 10, 120, 10, 50))   # doctest: +SKIP

How a redraw works, and why:

* The figure is rendered to PNG bytes and put into an ``ipywidgets.Image``; the text
  goes into an ``ipywidgets.HTML``. Nothing relies on capturing printed output or on
  pyplot: JupyterLab may deliver widget messages on threads of their own, and both of
  those are shared by the whole kernel, so a redraw on another thread garbles them.
* Redraws never overlap: one drawer thread per widget draws while changes keep
  arriving, then draws once more with the newest values. A burst of changes costs at
  most two redraws, and the last figure always shows the last values.
* A ``ModelError`` (say, a combination of values the model refuses) is shown as its
  message; the next valid change draws again.
"""

import html
import threading
import time
import traceback

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from .errors import SimlabError
from .plot.canvas import drawing_off_screen, png_bytes

CONTROL_WIDTH = "270px"   # a label and a usable track; three to a row in a notebook


def slider(description, low, high, step, value, integer=None):
    """A labelled slider that re-runs once, when released (not at every pixel of a drag).

    The label sits above the track, so a long label never squeezes the track.
    """
    integer = all(float(v).is_integer() for v in (low, high, step, value)) \
        if integer is None else integer
    make = widgets.IntSlider if integer else widgets.FloatSlider
    control = make(value=value, min=low, max=high, step=step, continuous_update=False,
                   layout=widgets.Layout(width="auto", flex="1 1 auto"))
    return _labelled(description, control)


def toggle(description, options, value=None):
    """Buttons to pick one of ``options``; each button as wide as its text."""
    control = widgets.ToggleButtons(options=options, value=value or options[0],
                                    style={"button_width": "auto"},
                                    layout=widgets.Layout(width="auto"))
    return _labelled(description, control, width="auto")


def checkbox(description, value=False):
    """A checkbox with its label beside it."""
    return widgets.Checkbox(value=value, description=description, indent=False,
                            layout=widgets.Layout(width=CONTROL_WIDTH))


def _labelled(description, control, width=CONTROL_WIDTH):
    # explore() reads and observes box.control; the box only lays it out.
    box = widgets.VBox([widgets.Label(description), control],
                       layout=widgets.Layout(width=width, min_width=CONTROL_WIDTH,
                                             margin="0 12px 6px 0"))
    box.control = control
    return box


def explore(update, **controls):
    """Controls, a line of text and a figure; ``update(**values)`` redraws at every change.

    Args:
        update: a function taking one keyword argument per control. It returns the
            figure to show (a ``Figure`` or an ``Axes``), or a pair ``(figure, text)``;
            if it returns nothing, the one figure it made is shown.
        controls: value widgets, e.g. ``rate=slider(...)``, ``style=toggle(...)``,
            ``breaker=checkbox(...)``, or any ipywidgets control with a ``value``.

    Returns:
        An ``Explorer`` (an ipywidgets box); the last expression of a cell displays it.
    """
    return Explorer(update, controls)


class Explorer(widgets.VBox):
    """The box ``explore`` returns. ``draw()`` redraws now; ``wait()`` waits for redraws."""

    def __init__(self, update, controls):
        self._update = update
        self.controls = {name: getattr(box, "control", box) for name, box in controls.items()}
        self.text = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%",
                                                                       height="auto"))
        self._lock = threading.Lock()       # guards the two flags below
        self._wanted = False                # a change arrived that is not drawn yet
        self._drawer = None                 # the thread drawing, if one is
        self.draw_seconds = None
        self.draws = 0                      # also in the page, so a browser test can count
        row = widgets.HBox(list(controls.values()),
                           layout=widgets.Layout(flex_flow="row wrap", align_items="flex-end"))
        super().__init__([row, self.text, self.image])
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.draw()

    def values(self):
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def draw(self):
        """Run ``update`` with the current values and show what it returns.

        ``draw_seconds`` is then how long it took: simulating, drawing, PNG.
        """
        started = time.perf_counter()
        png = problem = None
        try:
            with drawing_off_screen() as made:
                returned = self._update(**self.values())
            fig, text = _figure_and_text(returned, made, self._update)
            # A constrained layout leaves no border to crop; a fast encoding over small bytes.
            png = png_bytes(fig, crop=False, compress_level=1)
        except SimlabError as error:
            problem = f"{type(error).__name__}: {error}"
        except Exception:  # noqa: BLE001 — a learner's bug: show it where they look
            problem = traceback.format_exc()
        self.draw_seconds = time.perf_counter() - started
        if problem is None:
            self.image.value = png
            self.image.layout.display = None
            self._say(f"<pre>{html.escape(text)}</pre>" if text else "")
        else:
            self.image.layout.display = "none"   # no figure that belongs to other values
            self._say(f'<pre style="color: #b00020">{html.escape(problem)}</pre>')

    def wait(self, timeout=30):
        """Wait until every change so far is drawn; False if still drawing after ``timeout``."""
        with self._lock:
            drawer = self._drawer
        if drawer is not None:
            drawer.join(timeout)
            return not drawer.is_alive()
        return True

    def _changed(self, _change):
        with self._lock:
            self._wanted = True
            if self._drawer is not None:
                return                      # the drawer will draw once more when it is done
            self._drawer = threading.Thread(target=self._draw_until_current, daemon=True)
            self._drawer.start()

    def _draw_until_current(self):
        while True:
            with self._lock:
                if not self._wanted:
                    self._drawer = None
                    return
                self._wanted = False
            self.draw()                     # reads the values now: the newest win

    def _say(self, text):
        # Last, after the figure: when the count changes in the page, the figure is there.
        self.draws += 1
        self.text.value = f"<!-- draw {self.draws} in {self.draw_seconds:.3f} s -->{text}"


def _figure_and_text(returned, made, update):
    """What ``update`` returned, as (Figure, text)."""
    text = ""
    if isinstance(returned, tuple):
        figures = [item for item in returned if not isinstance(item, str)]
        text = "\n".join(item for item in returned if isinstance(item, str))
        returned = figures[0] if len(figures) == 1 else returned
    if returned is None and len(made) == 1:
        returned = made[0]
    if hasattr(returned, "flat"):           # an array of Axes, as subplots() gives
        returned = returned.flat[0]
    while isinstance(returned, (Axes, SubFigure)):
        returned = returned.figure          # up to the figure that holds it all
    if isinstance(returned, Figure):
        return returned, text
    name = getattr(update, "__name__", "update")
    raise TypeError(f"{name}() made {len(made)} figures and returned {returned!r}: "
                    "return the figure to show, or (figure, text)")
