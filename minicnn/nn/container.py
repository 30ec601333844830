"""Sequential: modules applied one after the other, named "0", "1", ... in the state dict."""
from minicnn.nn.module import Module


class Sequential(Module):
    """`Sequential(a, b, c)(x) == c(b(a(x)))`. Supports len(), iteration and indexing
    (`seq[0]`, `seq[-1]`, and slices, which give a new Sequential sharing the layers)."""

    def __init__(self, *modules):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential holds Modules, got {type(module).__name__}; wrap a "
                            f"function in a Module subclass with a forward() method")
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        if not -len(layers) <= index < len(layers):
            raise IndexError(f"index {index} is out of range for a Sequential of {len(layers)} "
                             f"layers")
        return layers[index]
