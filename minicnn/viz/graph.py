"""Draw the computation graph behind a tensor, as SVG (written by hand) or PNG (matplotlib).

    svg = mc.viz.draw_graph(loss)                  # the SVG text; also draw_graph(loss, "g.svg")
    mc.viz.draw_graph(loss, "graph.png")           # a PNG picture, returns the path

Tensors are rounded boxes (name, shape, dtype); operations are square boxes with the Function's
class name; arrows run input -> op -> output. A tensor's name is its `.name`, else the name given
in `names` (a dict such as dict(w=w, x=x, b=b), or vars() in a notebook), else its parameter name
in `model`. `values=True` also writes the numbers of every small tensor (at most VALUE_LIMIT
elements) and, after backward(), its gradient:

    mc.viz.draw_graph(a, names=dict(x=x, w=w, b=b), values=True) The picture reads from top (the inputs and
weights) to bottom (the output). No Graphviz is needed: the layout is computed here.

Layout (a "layered" drawing): every node gets a layer = the length of the LONGEST path from it
down to the output, so that each arrow points downwards and each weight sits just above the op
that uses it. Within a layer, nodes are ordered by the mean position of their neighbours in the
layer above and below (a few sweeps of the barycentre heuristic), which removes most crossings.

Gradient norms: after `loss.backward(retain_graph=True)`, `show_grad_norms=True` writes |.grad|
under every leaf. For the intermediate tensors, trace the backward pass and pass the tracer:

    with mc.trace(quiet=True) as t:
        loss.backward(retain_graph=True)
    mc.viz.draw_graph(loss, "graph.svg", grads=t)
"""
import os
from xml.sax.saxutils import escape

import numpy as np

from minicnn import backend
from minicnn.tensor import Tensor
from minicnn.trace import grad_norm, trace

CHAR_W, LINE_H, PAD = 7.2, 15, 8      # pixels per character, per text line, inside a box
LAYER_GAP, NODE_GAP, MARGIN = 48, 18, 20
COLORS = {"op": "#ffe8b0", "param": "#c8e6c9", "data": "#e3e3e3", "tensor": "#dbe9f7",
          "output": "#f8c8c8"}
VALUE_LIMIT = 6                       # values=True writes tensors of at most this many numbers


class SVG(str):
    """SVG text that a Jupyter notebook shows as a picture; a plain str in every other way."""

    def _repr_svg_(self):
        return str(self)

    def _repr_pretty_(self, printer, cycle):   # a notebook's text version: not the whole SVG
        printer.text(f"<SVG drawing, {len(self):,} characters>")


def collect_graph(output):
    """All tensors and Functions that `output` was computed from, and the arrows between them.
    Returns (nodes, edges): nodes is a list of (key, kind, object), edges (from_key, to_key)."""
    if not isinstance(output, Tensor):
        raise TypeError(f"draw_graph needs a Tensor (the output of a computation), got "
                        f"{type(output).__name__}")
    nodes, edges, seen = [], [], set()
    stack = [output]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        nodes.append((id(t), "tensor", t))
        fn = t.creator
        if fn is None:
            continue
        if getattr(fn, "released", False):
            raise RuntimeError("this graph was already used by backward() and has been freed "
                               "(its operations no longer know their inputs), so it cannot be "
                               "drawn; call draw_graph before backward(), or run "
                               "backward(retain_graph=True) to keep the graph")
        nodes.append((id(fn), "op", fn))
        edges.append((id(fn), id(t)))
        for inp in fn.inputs:
            edges.append((id(inp), id(fn)))
        stack.extend(reversed(fn.inputs))  # the first input is visited first (drawn leftmost)
    return nodes, list(dict.fromkeys(edges))  # an input used twice by one op: one arrow


def _numbers(array):
    """A short one-line text of a small array: [0.5 -1 0.25]."""
    return np.array2string(np.asarray(backend.to_numpy(array)), separator=" ",
                           formatter={"float_kind": lambda v: f"{v:.3g}"}, max_line_width=10_000)


def _labels(kind, obj, output, grads, show_grad_norms, names, values):
    """The text lines of one node and its colour class."""
    if kind == "op":
        return [type(obj).__name__], "op"
    name = obj.name or names.get(id(obj))
    lines = [name] if name else []
    lines.append(f"{obj.shape} {obj.dtype}")
    if values and obj.data.size <= VALUE_LIMIT:
        lines.append(f"value {_numbers(obj.data)}")
        if obj.grad is not None:
            lines.append(f"grad {_numbers(obj.grad)}")
    if show_grad_norms:
        norm = None
        if grads is not None:
            norm = grads.get(id(obj)) if isinstance(grads, dict) else grads.grad_norm_of(obj)
        if norm is None and obj.grad is not None:
            norm = grad_norm(obj.grad)
        if norm is not None:
            lines.append(f"|grad| {norm:.3g}")
    if obj is output:
        style = "output"
    elif obj.creator is not None:
        style = "tensor"
    else:
        style = "param" if obj.requires_grad else "data"
    return lines, style


def layout(nodes, edges):
    """Rows of node keys: row i holds the nodes whose longest path down to the output has i
    arrows (row 0: the output, drawn at the bottom), so every arrow goes to a lower row."""
    consumers = {key: [] for key, _, _ in nodes}   # arrows out of a node (to lower rows)
    producers = {key: [] for key, _, _ in nodes}   # arrows into a node (from higher rows)
    for a, b in edges:
        consumers[a].append(b)
        producers[b].append(a)
    # visit a node once all its consumers have their row (reverse topological order)
    row_of, waiting = {}, {key: len(consumers[key]) for key in consumers}
    ready = [key for key, n in waiting.items() if n == 0]
    while ready:
        key = ready.pop()
        row_of[key] = max((row_of[c] + 1 for c in consumers[key]), default=0)
        for p in producers[key]:
            waiting[p] -= 1
            if waiting[p] == 0:
                ready.append(p)
    rows = [[] for _ in range(max(row_of.values()) + 1)]
    for key, _, _ in nodes:  # first in the order of a depth-first walk, inputs left to right
        rows[row_of[key]].append(key)
    # barycentre sweeps: order a row by the mean position of its neighbours in the row next to
    # it, going up from the output, then down again, twice
    for sweep in range(4):
        up = sweep % 2 == 0
        for i in (range(1, len(rows)) if up else range(len(rows) - 2, -1, -1)):
            reference = {key: pos for pos, key in enumerate(rows[i - 1] if up else rows[i + 1])}
            neighbours = consumers if up else producers
            centres = []
            for pos, key in enumerate(rows[i]):  # a node with no neighbour there keeps its place
                linked = [reference[n] for n in neighbours[key] if n in reference]
                centres.append(sum(linked) / len(linked) if linked else pos)
            rows[i] = [key for _, key in sorted(zip(centres, rows[i]), key=lambda c: c[0])]
    return rows


def _place(rows, sizes):
    """Pixel boxes {key: (x, y, w, h)} for rows of keys (row 0 at the bottom) and canvas size."""
    row_widths = [sum(sizes[k][0] for k in row) + NODE_GAP * (len(row) - 1) for row in rows]
    width = max(row_widths) + 2 * MARGIN
    boxes, y = {}, MARGIN
    for row, row_width in zip(reversed(rows), reversed(row_widths)):
        x = (width - row_width) / 2
        row_h = max(sizes[k][1] for k in row)
        for k in row:
            w, h = sizes[k]
            boxes[k] = (x, y + (row_h - h) / 2, w, h)
            x += w + NODE_GAP
        y += row_h + LAYER_GAP
    return boxes, width, y - LAYER_GAP + MARGIN


def draw_graph(output, path=None, show_grad_norms=False, grads=None, model=None, names=None,
               values=False):
    """Draw the graph that computed `output`. path None or '*.svg': returns the SVG text (and
    writes it when a path is given; a notebook cell shows it as a picture); '*.png': writes a
    PNG with matplotlib and returns the path.
    grads: a finished mc.trace() (or {id(tensor): norm}) to label intermediate tensors with
    their gradient norms; implies show_grad_norms. model: anything with named_parameters()
    (an mc.nn.Module): its parameters are labelled with their names ('0.weight').
    names: {name: tensor} (e.g. dict(w=w, x=x) or vars()); entries that are not tensors, and
    names starting with '_', are ignored. values: write the value (and .grad, when there is one)
    of every tensor with at most VALUE_LIMIT elements."""
    if grads is not None and not isinstance(grads, (dict, trace)):
        raise TypeError(f"grads must be a finished mc.trace() object or a dict {{id(tensor): "
                        f"norm}}, got {type(grads).__name__}")
    show_grad_norms = show_grad_norms or grads is not None
    nodes, edges = collect_graph(output)
    if names is not None and not isinstance(names, dict):
        raise TypeError(f"names must be a dict {{name: tensor}}, e.g. dict(w=w, x=x), got "
                        f"{type(names).__name__}")
    labels = {} if model is None else {id(p): n for n, p in model.named_parameters()}
    labels.update({id(t): n for n, t in (names or {}).items()
                   if isinstance(t, Tensor) and not n.startswith("_")})
    info = {key: _labels(kind, obj, output, grads, show_grad_norms, labels, values)
            for key, kind, obj in nodes}
    sizes = {key: (max(len(s) for s in lines) * CHAR_W + 2 * PAD, len(lines) * LINE_H + 2 * PAD)
             for key, (lines, _) in info.items()}
    boxes, width, height = _place(layout(nodes, edges), sizes)
    if path is not None and str(path).lower().endswith(".png"):
        return _write_png(path, info, boxes, edges, width, height)
    svg = SVG(_svg(info, boxes, edges, width, height))
    if path is not None:
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(svg)
    return svg


def _svg(info, boxes, edges, width, height):
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
           '</defs>', f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>']
    for a, b in edges:  # a cubic curve from the bottom of a to the top of b
        ax, ay, aw, ah = boxes[a]
        bx, by, bw, _ = boxes[b]
        x1, y1, x2, y2 = ax + aw / 2, ay + ah, bx + bw / 2, by
        bend = max((y2 - y1) / 2, 10)
        out.append(f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} '
                   f'{x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}" fill="none" stroke="#555" '
                   f'marker-end="url(#arrow)"/>')
    for key, (lines, style) in info.items():
        x, y, w, h = boxes[key]
        radius = 2 if style == "op" else 10
        kind = "op" if style == "op" else "tensor"
        out.append(f'<g class="{kind}"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                   f'height="{h:.1f}" rx="{radius}" fill="{COLORS[style]}" stroke="#333"/>')
        for i, text in enumerate(lines):
            named = len(lines) > 1 and not lines[0].startswith("(")   # shapes print as (..)
            weight = ' font-weight="bold"' if i == 0 and (style == "op" or named) else ""
            out.append(f'<text x="{x + w / 2:.1f}" y="{y + PAD + (i + 0.8) * LINE_H:.1f}" '
                       f'text-anchor="middle"{weight}>{escape(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _write_png(path, info, boxes, edges, width, height, dpi=100):
    """The same drawing with matplotlib patches (Agg canvas: no display, no backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # y grows downwards, as in the SVG
    ax.axis("off")
    for a, b in edges:
        ax_, ay, aw, ah = boxes[a]
        bx, by, bw, _ = boxes[b]
        ax.annotate("", xy=(bx + bw / 2, by), xytext=(ax_ + aw / 2, ay + ah),
                    arrowprops=dict(arrowstyle="-|>", color="#555", lw=0.8,
                                    connectionstyle="arc3,rad=0.0"))
    font_pt = 12 * 72 / dpi
    for key, (lines, style) in info.items():
        x, y, w, h = boxes[key]
        box = "square,pad=0" if style == "op" else "round,pad=0,rounding_size=8"
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=box, facecolor=COLORS[style],
                                    edgecolor="#333", lw=0.8))
        ax.text(x + w / 2, y + h / 2, "\n".join(lines), ha="center", va="center",
                family="monospace", fontsize=font_pt, linespacing=1.1)
    # matplotlib refuses images over 2**16 pixels a side: shrink huge graphs to fit
    fig.savefig(os.fspath(path), dpi=min(dpi, dpi * 60000 / max(width, height)))
    return path
