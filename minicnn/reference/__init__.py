"""Slow, readable loop versions of the spatial ops: the definitions the fast ops are tested against.

Each function works on plain arrays (NumPy or CuPy) and loops over output positions or kernel
offsets, so that every line can be read next to the formula it implements."""
