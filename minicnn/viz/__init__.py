"""Pictures for learning and for training: the computation graph, the gradient flow, loss
curves, segmentation overlays and feature maps. Everything draws on a matplotlib Agg canvas
(no display needed, no global backend switch) or writes SVG text by hand."""
from minicnn.viz.graph import collect_graph, draw_graph  # noqa: F401
