"""Diagrams of the ideas that are hardest to picture, drawn with matplotlib from real numbers.

    fig = mc.viz.diagrams.im2col()            # windows become columns; one matrix product
    fig = mc.viz.diagrams.conv_backward()     # which window each dW and dx term comes from
    fig = mc.viz.diagrams.max_pool()          # max-pool forward, and where backward sends g
    fig = mc.viz.diagrams.unet()              # the U-Net with every tensor's shape (256 x 256)
    fig = mc.viz.diagrams.training_loop()     # image -> prediction -> error -> gradients -> update

Each returns a matplotlib Figure (Agg canvas: no display needed). The tutorials show them, and
`python tools/make_diagrams.py` writes them to docs/images/ for the site. The example numbers
are computed, not typed: the im2col columns are the windows of the drawn image, the max-pool
winners are the drawn maxima, and the U-Net shapes are checked against a real forward pass.
"""
import numpy as np

from minicnn.viz.plots import new_figure

WINDOW_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]   # one per output pixel / window
LIGHT = {c: c + "40" for c in WINDOW_COLORS}                     # the same colours, transparent


def _canvas(figsize, xlim, ylim):
    """A Figure with one axes in 'cell' units: x to the right, y downwards, no ticks."""
    fig = new_figure(figsize)
    ax = fig.add_subplot()
    ax.set_xlim(*xlim)
    ax.set_ylim(ylim[1], ylim[0])
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig, ax


def _grid(ax, x0, y0, values, fills=None, fmt="{:g}", bold=None, fontsize=11, label=None):
    """A table of cells with their values; cell (r, c) is the unit square at (x0 + c, y0 + r)."""
    from matplotlib.patches import Rectangle

    values = np.asarray(values, dtype=object)
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            fill = fills[r][c] if fills is not None else None
            ax.add_patch(Rectangle((x0 + c, y0 + r), 1, 1, facecolor=fill or "white",
                                   edgecolor="#444", lw=0.8))
            text = values[r, c] if isinstance(values[r, c], str) else fmt.format(values[r, c])
            weight = "bold" if bold is not None and bold[r][c] else "normal"
            ax.text(x0 + c + 0.5, y0 + r + 0.5, text, ha="center", va="center",
                    fontsize=fontsize, weight=weight)
    if label:
        ax.text(x0 + cols / 2, y0 - 0.35, label, ha="center", va="bottom", fontsize=11)


def _outline(ax, x0, y0, h, w, color, inset=0.0, lw=2.5):
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x0 + inset, y0 + inset), w - 2 * inset, h - 2 * inset, fill=False,
                           edgecolor=color, lw=lw))


def _arrow(ax, start, end, text=None, color="#333", style="-|>", dashed=False, offset=(0, -0.3)):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle=style, color=color, lw=1.5,
                                linestyle="--" if dashed else "-", shrinkA=2, shrinkB=2))
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text,
                ha="center", va="bottom", fontsize=10, color=color)


def windows(image, k):
    """Every k x k window of a 2-D image (stride 1, no padding), as (OH, OW, k, k)."""
    return np.lib.stride_tricks.sliding_window_view(image, (k, k))


def im2col():
    """A 4 x 4 image, a 3 x 3 kernel: the 4 windows become the 4 columns of `cols` (9 x 4), and
    the convolution is the product W_rows (1 x 9) @ cols (9 x 4) = the 4 outputs."""
    image = np.arange(16).reshape(4, 4)
    win = windows(image, 3)                                          # (2, 2, 3, 3)
    cols = win.reshape(4, 9).T                                       # (9, 4): column k = window k
    fig, ax = _canvas((11, 7.4), (-2.8, 16.2), (-1.6, 12.3))
    fills = [[None] * 4 for _ in range(4)]
    _grid(ax, 0, 2.5, image, fills, label="image x (4 x 4)")
    for k, (i, j) in enumerate(np.ndindex(2, 2)):
        _outline(ax, j, 2.5 + i, 3, 3, WINDOW_COLORS[k], inset=0.06 + 0.06 * k)
    ax.text(2, 7.0, "3 x 3 kernel, stride 1:\n2 x 2 = 4 windows", ha="center", va="top",
            fontsize=10)
    col_fills = [[LIGHT[WINDOW_COLORS[k]] for k in range(4)] for _ in range(9)]
    _grid(ax, 7, 0, cols, col_fills, label="cols (9 x 4): window k is column k")
    _arrow(ax, (4.3, 4.5), (6.8, 4.5), "im2col")
    weights = [[f"w{a}{b}" for a in range(3) for b in range(3)]]
    _grid(ax, -2.6, 10, weights, fontsize=9)
    ax.text(1.9, 11.55, "W_rows (1 x 9): the kernel as one row", ha="center", va="top",
            fontsize=10)
    outputs = [[f"y{i}{j}" for i, j in np.ndindex(2, 2)]]
    _grid(ax, 7, 10, outputs, [[LIGHT[c] for c in WINDOW_COLORS]])
    ax.text(9, 11.55, "W_rows @ cols (1 x 4):\none matrix product", ha="center", va="top",
            fontsize=10)
    _grid(ax, 13.2, 9.5, [["y00", "y01"], ["y10", "y11"]],
          [[LIGHT[WINDOW_COLORS[0]], LIGHT[WINDOW_COLORS[1]]],
           [LIGHT[WINDOW_COLORS[2]], LIGHT[WINDOW_COLORS[3]]]], label="y (2 x 2)")
    _arrow(ax, (11.2, 10.5), (13.0, 10.5), "reshape", offset=(0, -0.2))
    ax.text(7, -1.5, "y[k] = (row of weights) . (column k) = the kernel laid over window k",
            ha="center", va="top", fontsize=11)
    return fig


def conv_backward():
    """For y = conv(x, w) on a 4 x 4 image with a 3 x 3 kernel: the terms of one dW entry and of
    one dx entry, each coloured by the output pixel (window) it comes from."""
    fig = new_figure((13, 4.8))
    axes = fig.subplots(1, 3)
    for ax in axes:
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.set_xlim(-0.5, 9.5)
        ax.set_ylim(7.4, -1.6)
    x_names = [[f"x{r}{c}" for c in range(4)] for r in range(4)]
    w_names = [[f"w{a}{b}" for b in range(3)] for a in range(3)]
    g_names = [["g00", "g01"], ["g10", "g11"]]
    g_fills = [[LIGHT[WINDOW_COLORS[0]], LIGHT[WINDOW_COLORS[1]]],
               [LIGHT[WINDOW_COLORS[2]], LIGHT[WINDOW_COLORS[3]]]]

    ax = axes[0]                                    # forward: window (0, 1) gives y01
    ax.set_title("forward: window (i, j) gives y[i, j]", fontsize=12)
    _grid(ax, 0, 0, x_names, fontsize=10, label="x")
    for k, (i, j) in enumerate(np.ndindex(2, 2)):
        _outline(ax, j, i, 3, 3, WINDOW_COLORS[k], inset=0.06 + 0.06 * k)
    _grid(ax, 5.5, 0.5, w_names, fontsize=10, label="w")
    _grid(ax, 6, 5, g_names, g_fills, fontsize=10, label="g = dL/dy")
    ax.text(0, 5.0, "y[i,j] = sum over a, b of\n  w[a,b] x[i+a, j+b]\n\ng[i,j] arrives from the\n"
            "layer above in backward", va="top", fontsize=10)

    ax = axes[1]                                    # dW[0, 2]: one input pixel per window
    a, b = 0, 2
    ax.set_title(f"dW[{a},{b}]: one x per window", fontsize=12)
    fills = [[None] * 4 for _ in range(4)]
    for k, (i, j) in enumerate(np.ndindex(2, 2)):
        fills[i + a][j + b] = LIGHT[WINDOW_COLORS[k]]
    _grid(ax, 0, 0, x_names, fills, fontsize=10, label="x")
    w_fill = [[None] * 3 for _ in range(3)]
    w_fill[a][b] = "#bbbbbb"
    _grid(ax, 5.5, 0.5, w_names, w_fill, fontsize=10, label="w")
    _grid(ax, 6, 5, g_names, g_fills, fontsize=10, label="g")
    terms = [f"g{i}{j} x{i + a}{j + b}" for i, j in np.ndindex(2, 2)]
    ax.text(0, 5.0, f"dW[{a},{b}] = {terms[0]}\n      + {terms[1]}\n      + {terms[2]}\n"
            f"      + {terms[3]}\n(w[{a},{b}] met x[i+{a}, j+{b}]\n in window (i, j))",
            va="top", fontsize=10, family="monospace")

    ax = axes[2]                                    # dx[1, 2]: every window that covered it
    p, q = 1, 2
    ax.set_title(f"dx[{p},{q}]: every window over it", fontsize=12)
    fills = [[None] * 4 for _ in range(4)]
    fills[p][q] = "#bbbbbb"
    _grid(ax, 0, 0, x_names, fills, fontsize=10, label="x")
    for k, (i, j) in enumerate(np.ndindex(2, 2)):
        _outline(ax, j, i, 3, 3, WINDOW_COLORS[k], inset=0.06 + 0.06 * k)
    w_fill = [[None] * 3 for _ in range(3)]
    terms = []
    for k, (i, j) in enumerate(np.ndindex(2, 2)):
        w_fill[p - i][q - j] = LIGHT[WINDOW_COLORS[k]]    # window (i, j) weighed x[p, q] by this
        terms.append(f"g{i}{j} w{p - i}{q - j}")
    _grid(ax, 5.5, 0.5, w_names, w_fill, fontsize=10, label="w")
    _grid(ax, 6, 5, g_names, g_fills, fontsize=10, label="g")
    ax.text(0, 5.0, f"dx[{p},{q}] = {terms[0]}\n      + {terms[1]}\n      + {terms[2]}\n"
            f"      + {terms[3]}\n(col2im adds them: the\n kernel, flipped, slides over g)",
            va="top", fontsize=10, family="monospace")
    return fig


def max_pool(x=None, g=None):
    """2 x 2 max pooling of a 4 x 4 input: forward keeps each window's maximum; backward sends
    each g to the position of that maximum (the first one on a tie) and 0 to the others."""
    x = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 2]]) if x is None else x
    g = np.array([[10, 20], [30, 40]]) if g is None else g
    blocks = x.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 4)   # (OH, OW, window)
    first = blocks.argmax(axis=2)                                # the first maximum of each window
    y = blocks.max(axis=2)
    dx = np.zeros_like(x)
    fills = [[None] * 4 for _ in range(4)]
    winners = [[False] * 4 for _ in range(4)]
    for k, (i, j) in enumerate(np.ndindex(2, 2)):
        for r, c in np.ndindex(2, 2):
            fills[2 * i + r][2 * j + c] = LIGHT[WINDOW_COLORS[k]]
        r, c = divmod(int(first[i, j]), 2)
        winners[2 * i + r][2 * j + c] = True
        dx[2 * i + r, 2 * j + c] = g[i, j]
    out_fills = [[LIGHT[WINDOW_COLORS[2 * i + j]] for j in range(2)] for i in range(2)]
    fig, ax = _canvas((10, 4.0), (-0.3, 17.8), (-1.2, 5.6))
    _grid(ax, 0, 0, x, fills, bold=winners, label="forward: x (4 x 4)")
    for r in range(4):
        for c in range(4):
            if winners[r][c]:
                _outline(ax, c, r, 1, 1, "#222", inset=0.1, lw=2)
    _arrow(ax, (4.3, 2), (6.2, 2), "max of\neach 2x2", offset=(0, -0.2))
    _grid(ax, 6.5, 1, y, out_fills, label="y (2 x 2)")
    _grid(ax, 9.8, 1, g, out_fills, label="g = dL/dy")
    _arrow(ax, (11.9, 2), (13.2, 2), "to the\nwinner", offset=(0, -0.2))
    _grid(ax, 13.5, 0, dx, fills, bold=winners, label="backward: dx")
    ax.text(8.5, 4.6, "Only the maximum (outlined) of each window reached y, so only it\n"
            "receives that window's gradient; the other three get 0.", ha="center", va="top",
            fontsize=11)
    return fig


def unet_shapes(size=256, base_channels=16, depth=3, in_channels=1, out_channels=1):
    """The U-Net's steps for one (in_channels, size, size) image, in the order UNet.forward runs
    them: a list of (level, kind, [(what, (C, H, W)), ...]). kind is input, block, pool, up,
    concat or head; a block lists its two 3x3 convolutions."""
    c = [base_channels * 2 ** level for level in range(depth)]
    steps = [(0, "input", [("image", (in_channels, size, size))])]
    for level in range(depth):
        s = size // 2 ** level
        if level > 0:
            steps.append((level, "pool", [("max-pool 2x2", (c[level - 1], s, s))]))
        steps.append((level, "block", [("conv 3x3, ReLU", (c[level], s, s))] * 2))
    for level in range(depth - 2, -1, -1):
        s = size // 2 ** level
        steps.append((level, "up", [("conv 1x1", (c[level], s // 2, s // 2)),
                                    ("upsample x2", (c[level], s, s))]))
        steps.append((level, "concat", [("concat skip", (2 * c[level], s, s))]))
        steps.append((level, "block", [("conv 3x3, ReLU", (c[level], s, s))] * 2))
    steps.append((0, "head", [("conv 1x1\nlogits", (out_channels, size, size))]))
    return steps


def unet(size=256, base_channels=16, depth=3):
    """The U-Net's steps laid out as a U, with the (C, H, W) shape of every tensor for one
    size x size image; the shapes are checked against a forward pass of minicnn's UNet."""
    from matplotlib.patches import FancyBboxPatch

    import minicnn as mc

    steps = unet_shapes(size, base_channels, depth)
    model = mc.models.UNet(base_channels=base_channels, depth=depth)
    with mc.no_grad():
        out_shape = model(mc.zeros(1, 1, size, size)).shape
    assert out_shape[1:] == steps[-1][2][-1][1], (out_shape, steps[-1])
    colors = {"input": "#e3e3e3", "block": "#dbe9f7", "pool": "#f8c8c8", "up": "#c8e6c9",
              "concat": "#ffe8b0", "head": "#e3e3e3"}
    box_w, box_h, col_w, row_h = 2.7, 1.9, 3.05, 2.75
    xlim = (-0.2, col_w * (len(steps) - 1) + box_w + 0.2)
    ylim = (-1.0, row_h * (depth - 1) + box_h + 0.2)
    width = 15.5                                                        # inches
    fig, ax = _canvas((width, width * (ylim[1] - ylim[0]) / (xlim[1] - xlim[0]) + 0.5), xlim, ylim)
    first_block = {}                      # level -> (x, y) of the encoder's block (the skip)
    previous = None
    for column, (level, kind, lines) in enumerate(steps):   # one column per step, in order
        x, y = column * col_w, level * row_h
        if kind == "block":
            text = f"{lines[0][0]}\n{lines[1][0]}\n{lines[1][1]}"
        else:
            text = "\n".join(f"{what}\n{shape}" for what, shape in lines)
        ax.add_patch(FancyBboxPatch((x, y), box_w, box_h, boxstyle="round,pad=0.02,"
                                    "rounding_size=0.15", facecolor=colors[kind],
                                    edgecolor="#333", lw=0.8))
        ax.text(x + box_w / 2, y + box_h / 2, text, ha="center", va="center",
                fontsize=8.5 if len(lines) == 1 or kind == "block" else 8, linespacing=1.3)
        if previous is not None:
            px, py = previous
            if py == y:                                      # same level: left to right
                _arrow(ax, (px + box_w, py + box_h / 2), (x, y + box_h / 2))
            elif y > py:                                     # down a level (pooling)
                _arrow(ax, (px + box_w / 2, py + box_h), (x + box_w / 2, y))
            else:                                            # up a level (upsampling)
                _arrow(ax, (px + box_w / 2, py), (x + box_w / 2, y + box_h))
        if kind == "block":
            first_block.setdefault(level, (x, y))
        if kind == "concat":
            sx, sy = first_block[level]                     # over the boxes in between
            lane = y - 0.45
            ax.plot([sx + box_w / 2, sx + box_w / 2, x + box_w / 2], [sy, lane, lane],
                    color="#7a5c00", lw=1.5, linestyle="--")
            _arrow(ax, (x + box_w / 2, lane), (x + box_w / 2, y), color="#7a5c00")
            ax.text((sx + x + box_w) / 2, lane - 0.05, "skip connection (a copy of the "
                    f"encoder's {lines[0][1][0] // 2} channels)", ha="center", va="bottom",
                    fontsize=9, color="#7a5c00")
        previous = (x, y)
    ax.set_title(f"minicnn's UNet(base_channels={base_channels}, depth={depth}) on one "
                 f"{size} x {size} image: shapes are (channels, height, width); a batch adds N "
                 f"in front", fontsize=12)
    return fig


def training_loop(image=None, truth=None, prediction=None):
    """The training loop as a cycle: image patch -> network -> prediction -> error against the
    annotation -> gradients (backward) -> update of every weight and bias -> next patch.
    Default pictures: a crop of the bundled nuclei image, its annotation, and the bundled
    pretrained model's prediction."""
    from matplotlib.patches import FancyBboxPatch

    if image is None or truth is None or prediction is None:
        image, truth, prediction = _sample_pictures()
    fig, ax = _canvas((12, 6.2), (0, 24), (-0.3, 12.1))

    def box(x, y, w, h, text, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05,rounding_size=0.4",
                                    facecolor=color, edgecolor="#333", lw=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=11)

    def picture(x, y, size, array, title):
        """An image in the square (x, y) .. (x + size, y + size), its title above it."""
        ax.imshow(array, cmap="gray", vmin=0, vmax=1, extent=(x, x + size, y + size, y),
                  interpolation="nearest")
        _outline(ax, x, y, size, size, "#333", lw=1)
        ax.text(x + size / 2, y - 0.15, title, ha="center", va="bottom", fontsize=11)

    ax.text(12, 0.1, "one training step; repeated for every batch of patches", ha="center",
            va="top", fontsize=13)
    picture(0.8, 1.8, 4.2, image, "1. image patch x")
    box(7.2, 2.5, 4.6, 2.8, "2. U-Net forward\nlogits = net(x)", "#dbe9f7")
    picture(14.2, 1.8, 4.2, prediction, "3. prediction: sigmoid(logits)")
    picture(19.4, 7.7, 4.2, truth, "the annotation")
    box(13.8, 8.0, 4.8, 2.8, "4. error\nloss = BCE(logits,\nannotation)", "#f8c8c8")
    box(7.2, 8.0, 4.6, 2.8, "5. back-propagation\nloss.backward():\na .grad for every\n"
        "weight and bias", "#ffe8b0")
    box(0.6, 8.0, 4.8, 2.8, "6. update\noptimizer.step():\nw <- w - lr * w.grad", "#c8e6c9")
    _arrow(ax, (5.1, 3.9), (7.1, 3.9))
    _arrow(ax, (11.9, 3.9), (14.1, 3.9))
    _arrow(ax, (16.3, 6.1), (16.3, 7.9))
    _arrow(ax, (19.3, 9.4), (18.7, 9.4))
    _arrow(ax, (13.7, 9.4), (11.9, 9.4))
    _arrow(ax, (7.1, 9.4), (5.5, 9.4))
    _arrow(ax, (3.0, 7.9), (3.0, 6.1))
    ax.text(3.3, 7.0, "next batch", ha="left", va="center", fontsize=10)
    return fig


def _sample_pictures(crop=(slice(64, 192), slice(64, 192))):
    """A crop of the bundled image (normalized), its annotation, and the pretrained model's
    probability map on it."""
    import minicnn as mc
    from minicnn.pipeline import load_model

    image, labels = mc.data.sample_nuclei()
    model = load_model("nuclei")
    model.eval()
    normalized = mc.data.normalize(image, model.metadata["normalization"])[crop]
    with mc.no_grad():
        logits = model(mc.tensor(np.ascontiguousarray(normalized)[None, None]))
    prediction = 1 / (1 + np.exp(-logits.numpy()[0, 0]))
    shown = np.clip(normalized / np.percentile(normalized, 99.5), 0, 1)   # bright enough to see
    return shown, (labels[crop] > 0).astype(float), prediction


ALL = {"im2col": im2col, "conv_backward": conv_backward, "max_pool": max_pool, "unet": unet,
       "training_loop": training_loop}
