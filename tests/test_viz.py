"""mc.viz: graph drawing (SVG and PNG), gradient-flow recording, training and segmentation plots."""
import math
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minicnn as mc
from minicnn import viz
from minicnn.viz.graph import VALUE_LIMIT, collect_graph, layout
from tests.conftest import make

SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def two_layer_neuron(rng):
    """loss = mean(sigmoid(relu(x @ w1 + b1) @ w2 + b2)); returns (loss, named leaves)."""
    x = make(rng.standard_normal((4, 3)), requires_grad=False)
    w1, b1 = make(rng.standard_normal((3, 5))), make(rng.standard_normal(5))
    w2, b2 = make(rng.standard_normal((5, 1))), make(rng.standard_normal(1))
    for t, name in ((x, "x"), (w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")):
        t.name = name
    hidden = (x @ w1 + b1).relu()
    hidden.name = "hidden"
    loss = ((hidden @ w2 + b2).sigmoid()).mean()
    return loss, {"x": x, "w1": w1, "b1": b1, "w2": w2, "b2": b2, "hidden": hidden}


def count_graph(output):
    """Tensors, Functions and arrows reachable from output, counted by a plain recursion."""
    tensors, functions, arrows = set(), set(), set()

    def visit(t):
        if id(t) in tensors:
            return
        tensors.add(id(t))
        if t.creator is not None:
            functions.add(id(t.creator))
            arrows.add((id(t.creator), id(t)))
            for inp in t.creator.inputs:
                arrows.add((id(inp), id(t.creator)))
                visit(inp)
    visit(output)
    return len(tensors), len(functions), len(arrows)


def texts(svg):
    return [el.text for el in ET.fromstring(svg).iter(SVG + "text")]


def test_svg_is_xml_with_every_op_shape_and_name(rng):
    loss, leaves = two_layer_neuron(rng)
    svg = viz.draw_graph(loss)
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == SVG + "svg"
    n_tensors, n_functions, n_arrows = count_graph(loss)
    groups = [g.get("class") for g in root.iter(SVG + "g")]
    assert groups.count("op") == n_functions == 7  # MatMul Add ReLU MatMul Add Sigmoid Mean
    assert groups.count("tensor") == n_tensors
    words = texts(svg)
    for op in ("MatMul", "Add", "ReLU", "Sigmoid", "Mean"):
        assert op in words
    for name, t in leaves.items():
        assert name in words and f"{t.shape} float64" in words
    assert "() float64" in words  # the loss
    edges = [p for p in root.iter(SVG + "path") if p.get("class") == "edge"]
    # input arrows: MatMul 2, Add 2, ReLU 1, MatMul 2, Add 2, Sigmoid 1, Mean 1; one output each
    assert len(edges) == n_arrows == 11 + 7


def test_svg_written_to_path_and_escaped(tmp_path, rng):
    x = make(rng.standard_normal(3))
    x.name = "a<b & c>"
    path = tmp_path / "graph.svg"
    svg = viz.draw_graph((x * 2).sum(), path)
    assert path.read_text() == svg
    assert isinstance(svg, str) and svg._repr_svg_() == svg  # notebooks draw it
    assert "a<b & c>" in texts(svg)


def test_png_written(tmp_path, rng):
    loss, _ = two_layer_neuron(rng)
    path = tmp_path / "graph.png"
    assert viz.draw_graph(loss, str(path)) == str(path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000


def test_released_graph_gives_clear_error(rng):
    loss, _ = two_layer_neuron(rng)
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        viz.draw_graph(loss)


def test_grad_norms_of_leaves_and_of_traced_intermediates(rng):
    loss, leaves = two_layer_neuron(rng)
    with mc.trace(quiet=True) as t:
        loss.backward(retain_graph=True)
    plain = texts(viz.draw_graph(loss, show_grad_norms=True))
    for name in ("w1", "b1", "w2", "b2"):
        assert f"|grad| {np.linalg.norm(leaves[name].grad):.3g}" in plain
    assert not any(s.startswith("|grad|") for s in texts(viz.draw_graph(loss)))
    traced = texts(viz.draw_graph(loss, grads=t))
    hidden_norm = t.grad_norm_of(leaves["hidden"])
    assert hidden_norm is not None and f"|grad| {hidden_norm:.3g}" in traced
    assert sum(s.startswith("|grad|") for s in traced) == count_graph(loss)[0] - 1  # all but x


def test_layout_arrows_point_down_and_rows_are_longest_paths(rng):
    x = make(rng.standard_normal((2, 2)))
    h = x
    for _ in range(5):
        h = (h * 0.5).tanh()
    out = (h + x).sum()  # a skip connection from x over the whole chain
    nodes, edges = collect_graph(out)
    rows = layout(nodes, edges)
    row_of = {key: i for i, row in enumerate(rows) for key in row}
    assert sorted(row_of) == sorted(key for key, _, _ in nodes)
    assert all(row_of[a] > row_of[b] for a, b in edges)
    assert row_of[id(x)] == len(rows) - 1  # longest path, not the short skip
    assert rows[0] == [id(out)]


def test_a_few_hundred_nodes_draw_quickly(rng):
    x = make(rng.standard_normal((2, 3)))
    h, skips = x, []
    for i in range(60):
        h = (h * 0.9 + 0.1).relu()
        if i % 10 == 0:
            skips.append(h)
    out = (h + sum(skips[1:], skips[0])).sum()
    n_tensors, n_functions, _ = count_graph(out)
    assert n_tensors + n_functions > 300
    start = time.perf_counter()
    svg = viz.draw_graph(out)
    assert time.perf_counter() - start < 3.0
    assert len([g for g in ET.fromstring(svg).iter(SVG + "g")]) == n_tensors + n_functions


def test_parameters_labelled_with_model_names(rng):
    w, b = make(rng.standard_normal((3, 2))), make(rng.standard_normal(2))
    x = make(rng.standard_normal((4, 3)), requires_grad=False)
    words = texts(viz.draw_graph((x @ w + b).sum(), model=StandIn({"fc.weight": w, "fc.bias": b})))
    assert "fc.weight" in words and "fc.bias" in words


def test_bad_arguments(rng):
    with pytest.raises(TypeError, match="Tensor"):
        viz.draw_graph(np.ones(3))
    x = make(rng.standard_normal(3))
    with pytest.raises(TypeError, match="mc.trace"):
        viz.draw_graph(x.sum(), grads=[1.0])
    assert len(texts(viz.draw_graph(x))) == 1  # a leaf alone is a one-node graph


class StandIn:
    """What GradientFlow needs from a model: named_parameters() -> (name, Tensor) pairs."""

    def __init__(self, params):
        self.params = params

    def named_parameters(self):
        return iter(self.params.items())


def test_gradient_flow_records_the_real_norms(rng, tmp_path):
    params = {"layer1.weight": make(rng.standard_normal((3, 4))),
              "layer1.bias": make(rng.standard_normal(4)),
              "layer2.weight": make(rng.standard_normal((4, 1))),
              "unused.weight": make(rng.standard_normal(2))}
    model = StandIn(params)
    flow, layers = viz.GradientFlow(), viz.GradientFlow(by_layer=True)
    x = rng.standard_normal((5, 3))
    for step in range(3):
        for p in params.values():
            p.zero_grad()
        h = (mc.tensor(x) @ params["layer1.weight"] + params["layer1.bias"]).tanh()
        ((h @ params["layer2.weight"]) ** 2).mean().backward()
        flow.record(model)
        layers.record(model, step=10 * step)
        expected = {n: np.linalg.norm(p.grad) for n, p in params.items() if p.grad is not None}
        for name, value in expected.items():
            assert flow.history[name][-1] == pytest.approx(value)
        assert math.isnan(flow.history["unused.weight"][-1])
        assert layers.latest()["layer1"] == pytest.approx(
            math.hypot(expected["layer1.weight"], expected["layer1.bias"]))
    assert flow.steps == [0, 1, 2] and layers.steps == [0, 10, 20]
    assert all(len(v) == 3 for v in flow.history.values())
    fig = viz.plot_gradient_flow(flow, tmp_path / "flow.png")
    assert (tmp_path / "flow.png").read_bytes().startswith(PNG_MAGIC)
    assert len(fig.axes) == 2
    viz.plot_gradient_flow({"a": [1.0, 0.1], "b": [1e-3, 1e-6]}, tmp_path / "flow2.png")
    assert (tmp_path / "flow2.png").stat().st_size > 0
    with pytest.raises(ValueError, match="record"):
        viz.plot_gradient_flow(viz.GradientFlow())
    with pytest.raises(TypeError, match="named_parameters"):
        flow.record(object())


@pytest.mark.parametrize("as_rows", [True, False])
def test_plot_curves(tmp_path, as_rows):
    steps = list(range(20))
    columns = {"step": steps, "loss": [1 / (s + 1) for s in steps],
               "val_loss": [1.1 / (s + 1) if s % 5 == 0 else None for s in steps],
               "val_iou": [s / 20 if s % 5 == 0 else None for s in steps]}
    history = [dict(zip(columns, values)) for values in zip(*columns.values())] if as_rows \
        else columns
    path = tmp_path / "curves.png"
    fig = viz.plot_curves(history, path)
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"
    loss_only = viz.plot_curves({"loss": [3.0, 2.0, 1.0]})
    assert len(loss_only.axes) == 1
    with pytest.raises(ValueError, match="loss"):
        viz.plot_curves({"step": [0, 1]})


def test_plot_overlay(tmp_path, rng):
    yy, xx = np.mgrid[:32, :32]
    truth = ((yy - 15) ** 2 + (xx - 15) ** 2 < 60).astype(np.uint16)
    prediction = mc.tensor(((yy - 17) ** 2 + (xx - 14) ** 2 < 50).astype(np.float32)[None])
    path = tmp_path / "overlay.png"
    fig = viz.plot_overlay(rng.random((32, 32)), truth, prediction, path, title="sample")
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert len(fig.axes) == 4
    assert len(fig.axes[3].collections) >= 2  # the two outlines
    with pytest.raises(ValueError, match="same height and width"):
        viz.plot_overlay(rng.random((32, 32)), truth[:16], truth)


def test_plot_feature_maps(tmp_path, rng):
    path = tmp_path / "maps.png"
    fig = viz.plot_feature_maps(rng.random((1, 20, 8, 8)), path, max_maps=9)
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert sum(bool(ax.images) for ax in fig.axes) == 9
    fig = viz.plot_feature_maps(mc.tensor(rng.random((3, 8, 8))))
    assert sum(bool(ax.images) for ax in fig.axes) == 3
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        viz.plot_feature_maps(rng.random((8, 8)))


def test_names_from_a_dict_and_small_values_with_gradients():
    x = mc.tensor([1.0, 2.0, 3.0])
    w = mc.tensor([0.5, -1.0, 0.25], requires_grad=True)
    b = mc.tensor(0.1, requires_grad=True)
    a = ((w * x).sum() + b).sigmoid()
    plain = texts(viz.draw_graph(a))
    assert "x" not in plain and "w" not in plain                  # unnamed: only shapes
    a.backward(retain_graph=True)
    words = texts(viz.draw_graph(a, names={"x": x, "w": w, "b": b, "lr": 0.1, "_hidden": a},
                                 values=True))
    for name in ("x", "w", "b"):
        assert name in words
    assert "value [1 2 3]" in words and "value [0.5 -1 0.25]" in words
    s = 1 / (1 + np.exp(-(0.5 - 2 + 0.75 + 0.1)))
    slope = s * (1 - s)                                                # d sigmoid / dz
    assert f"grad [{slope:.3g} {2 * slope:.3g} {3 * slope:.3g}]" in words    # w.grad = slope * x
    assert f"grad {slope:.3g}" in words                                      # b.grad
    assert sum(t.startswith("grad") for t in words) == 2                     # x has none
    big = mc.tensor(np.zeros(VALUE_LIMIT + 1), requires_grad=True)
    words = texts(viz.draw_graph(big.sum(), values=True))
    assert "value 0" in words and not any(t.startswith("value [") for t in words)  # big: no numbers
    with pytest.raises(TypeError, match="names must be a dict"):
        viz.draw_graph(a, names=[x, w])


def test_show_source_hides_every_solution_block():
    from minicnn.ops import activation
    from minicnn.reference import conv as loop_conv
    from minicnn.assignment.markers import parse
    import inspect

    for obj in (activation.ReLU, loop_conv.conv2d_backward, mc.optim.SGD.update):
        original = inspect.getsource(obj)
        blocks = parse(original)
        assert blocks, f"{obj.__qualname__} is expected to hold an exercise"
        shown = viz.source_text(obj)
        assert "BEGIN SOLUTION" not in shown and "END SOLUTION" not in shown
        for block in blocks:
            assert f"exercise {block.name}:" in shown
            hidden = original.split("\n")[block.begin + 1:block.end]
            assert not any(line.strip() and line.strip() in shown.split("\n")
                           for line in hidden if len(line.strip()) > 25), "answer leaked"
    part = viz.source_text(mc.Tensor.backward, start="grads = {")
    assert part.startswith("grads = {") and "def backward" not in part
    with pytest.raises(ValueError, match="no line containing"):
        viz.source_text(mc.Tensor.backward, start="this text is not there")
    with pytest.raises(TypeError, match="show_source needs"):
        viz.source_text(3)


def test_diagrams_draw(tmp_path):
    from minicnn.viz import diagrams

    shapes = [shape for _, _, lines in diagrams.unet_shapes(256, 16, 3) for _, shape in lines]
    assert shapes[0] == (1, 256, 256) and shapes[-1] == (1, 256, 256)
    assert (64, 64, 64) in shapes and (64, 128, 128) in shapes       # bottleneck, level-1 concat
    for name, draw in diagrams.ALL.items():
        if name == "training_loop":       # pictures given: no pretrained model needed here
            fig = draw(*np.random.default_rng(0).random((3, 16, 16)))
        else:
            fig = draw()
        path = tmp_path / f"{name}.png"
        fig.savefig(path, dpi=40)
        assert path.read_bytes()[:8] == PNG_MAGIC
