"""The bundled real image: one DSB 2018 fluorescence image of nuclei with its human annotation.

The files live inside the package (minicnn/data/samples/dsb2018_nuclei/, provenance in the
README.md there), so the tutorials and `minicnn demo` work offline.
"""
from importlib import resources

from minicnn.data.tiff import read_image


def sample_nuclei():
    """(image, labels): (512, 512) uint16 each; labels are instance ids, 0 is background.

    From the 2018 Data Science Bowl (Caicedo et al., Nature Methods 2019), as shipped with
    StarDist (Schmidt et al., MICCAI 2018); cite both wherever the image is shown.
    """
    folder = resources.files("minicnn.data").joinpath("samples", "dsb2018_nuclei")
    arrays = []
    for name in ("image.tif", "labels.tif"):
        with resources.as_file(folder.joinpath(name)) as path:
            arrays.append(read_image(path))
    return arrays[0], arrays[1]
