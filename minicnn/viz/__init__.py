"""Pictures for learning and for training: the computation graph, the gradient flow, loss
curves, segmentation overlays and feature maps. Everything draws on a matplotlib Agg canvas
(no display needed, no global backend switch) or writes SVG text by hand."""
from minicnn.viz.graph import collect_graph, draw_graph  # noqa: F401
from minicnn.viz.gradflow import GradientFlow, plot_gradient_flow  # noqa: F401
from minicnn.viz.plots import plot_curves, plot_feature_maps, plot_overlay  # noqa: F401
from minicnn.viz.notebook import show, tutorial_output_dir  # noqa: F401
from minicnn.viz import diagrams  # noqa: F401,E402  (im2col, U-Net, ... as figures)
from minicnn.viz.source import show_source, source_text  # noqa: F401
