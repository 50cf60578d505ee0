"""Live controls for lessons: move a slider, the simulation re-runs, the figure redraws.

Example (in a notebook):
    >>> import simlab as sl
    >>> from simlab.widgets import explore, slider
    >>> def show(rate):
    ...     sl.plot.latency_over_time(sl.scenarios.shop(rate=rate).run())
    >>> explore(show, rate=slider("orders/s", 10, 120, 10, 50))   # doctest: +SKIP
"""

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import clear_output


def slider(description, low, high, step, value, integer=None):
    """A slider that re-runs once, when released (not at every pixel of a drag)."""
    integer = all(float(v).is_integer() for v in (low, high, step, value)) \
        if integer is None else integer
    make = widgets.IntSlider if integer else widgets.FloatSlider
    return make(value=value, min=low, max=high, step=step, description=description,
                continuous_update=False, style={"description_width": "initial"})


def explore(update, **controls):
    """Controls above an output area; ``update(**values)`` draws into it at every change.

    Args:
        update: a function taking one keyword argument per control; it draws with
            matplotlib (and may print).
        controls: ipywidgets value widgets, e.g. ``rate=slider(...)``,
            ``style=widgets.ToggleButtons(options=["sync", "async"])``.

    Returns:
        The widget box; the last expression of a cell displays it.
    """
    output = widgets.Output()

    def redraw(_change=None):
        with output:
            clear_output(wait=True)  # wait: no flicker between the old and the new figure
            update(**{name: control.value for name, control in controls.items()})
            plt.show()

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox(list(controls.values()),
                                      layout=widgets.Layout(flex_flow="row wrap")), output])
