"""Gradient flow: how large is each layer's gradient, step after step?

Back-propagation multiplies the error signal by one layer's derivative after another. If those
factors are mostly below 1 the gradient shrinks on its way back (vanishing: the first layers stop
learning); mostly above 1, it grows (exploding: the loss jumps or becomes NaN). Record the norm
|dLoss/dW| of every parameter after each backward() and plot it on a log scale:

    flow = mc.viz.GradientFlow()
    for step in range(steps):
        ...; loss.backward()
        flow.record(model)            # before optimizer.zero_grad()
        ...
    mc.viz.plot_gradient_flow(flow, "gradient_flow.png")

Healthy training shows every layer's line within a few orders of magnitude of the others.
"""
import math
import os

from minicnn.trace import grad_norm


class GradientFlow:
    """Records the gradient norm of each parameter (or each layer) at every record() call.

    by_layer=True adds up the parameters of one layer: 'down1.conv.weight' and
    'down1.conv.bias' become 'down1.conv', with norm sqrt(|dW|^2 + |db|^2).
    history: {name: [norm at each recorded step]}; a parameter without a gradient gives NaN."""

    def __init__(self, by_layer=False):
        self.by_layer = by_layer
        self.steps = []
        self.history = {}

    def record(self, model, step=None):
        """Read the `.grad` of every (name, parameter) in model.named_parameters()."""
        if not hasattr(model, "named_parameters"):
            raise TypeError(f"GradientFlow.record needs a model with named_parameters() (an "
                            f"mc.nn.Module), got {type(model).__name__}")
        squares = {}  # name -> sum of squared gradient norms (NaN when any part has no grad)
        for name, param in model.named_parameters():
            key = name.rsplit(".", 1)[0] if self.by_layer and "." in name else name
            square = math.nan if param.grad is None else grad_norm(param.grad) ** 2
            squares[key] = squares.get(key, 0.0) + square
        if not squares:
            raise ValueError("GradientFlow.record: the model has no parameters to record")
        index = len(self.steps)
        self.steps.append(index if step is None else step)
        for key, square in squares.items():
            # a layer that appears only now gets NaN for the steps before
            values = self.history.setdefault(key, [math.nan] * index)
            values.append(math.sqrt(square))
        for values in self.history.values():
            values.extend([math.nan] * (len(self.steps) - len(values)))
        return {key: math.sqrt(square) for key, square in squares.items()}

    def latest(self):
        """{name: norm} at the last recorded step."""
        return {name: values[-1] for name, values in self.history.items()}

    def plot(self, path=None):
        return plot_gradient_flow(self, path)


def plot_gradient_flow(history, path=None, max_lines=40):
    """Two panels: each layer's gradient norm over the steps (log scale), and a bar per layer for
    the latest step (log scale, first layer at the top). `history` is a GradientFlow or a dict
    {name: [norms]}. Saves a PNG when path is given; returns the matplotlib Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(history, GradientFlow):
        steps, norms = history.steps, history.history
    elif isinstance(history, dict) and history:
        norms = history
        steps = list(range(max(len(v) for v in norms.values())))
    else:
        raise TypeError(f"plot_gradient_flow needs a GradientFlow with recorded steps or a "
                        f"non-empty dict {{name: [norms]}}, got {history!r:.80}")
    if not steps:
        raise ValueError("plot_gradient_flow: nothing recorded yet; call flow.record(model) "
                         "after loss.backward() in the training loop")
    names = list(norms)
    fig = Figure(figsize=(13, max(4.0, 0.22 * len(names) + 1.5)), constrained_layout=True)
    FigureCanvasAgg(fig)
    lines, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    cmap = fig_colormap(len(names))
    for i, name in enumerate(names):
        positive = [(s, v) for s, v in zip(steps, norms[name]) if v > 0]  # NaN/0: no point on log
        if positive:
            xs, ys = zip(*positive)
            lines.plot(xs, ys, color=cmap(i), lw=1,
                       label=name if len(names) <= max_lines else None)
    lines.set_yscale("log")
    lines.set_xlabel("step")
    lines.set_ylabel("gradient norm |dLoss/dW|")
    lines.set_title("gradient flow over training (first layer dark, last light)")
    if len(names) <= max_lines:
        lines.legend(fontsize=7, ncol=1 + len(names) // 20, loc="best")
    latest = [norms[name][-1] for name in names]
    heights = [v if v > 0 else math.nan for v in latest]
    bars.barh(range(len(names)), heights, color=[cmap(i) for i in range(len(names))])
    bars.set_yticks(range(len(names)), names, fontsize=7)
    bars.invert_yaxis()  # the first layer (nearest the input) on top
    if any(v > 0 for v in latest):
        bars.set_xscale("log")
    bars.set_xlabel("gradient norm at the latest step")
    bars.set_title(f"step {steps[-1]}")
    if path is not None:
        fig.savefig(os.fspath(path), dpi=100)
    return fig


def fig_colormap(n):
    """n colours running from dark (first layer) to light (last), from matplotlib's viridis."""
    from matplotlib import colormaps

    viridis = colormaps["viridis"]
    return lambda i: viridis(0.9 * i / max(n - 1, 1))
