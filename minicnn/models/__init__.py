"""Ready-made networks. MODELS maps a class name to the class, so that mc.load can rebuild a
saved model from the name and configuration stored in its file."""
from minicnn.models.unet import UNet

MODELS = {"UNet": UNet}
