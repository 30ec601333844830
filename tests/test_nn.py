"""Module bookkeeping (registration, names, order, state_dict, strict loading, modes, devices),
the default initialization, and the layers' forward passes."""
import math

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from tests.conftest import make


class Affine(nn.Module):
    """y = x @ weight + bias: a module written the way a user would write one."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(np.full((n_in, n_out), 0.5, dtype=np.float32))
        self.bias = nn.Parameter(np.zeros(n_out, dtype=np.float32))
        self.scale = 2.0                                   # a plain attribute, not registered

    def forward(self, x):
        return (x @ self.weight + self.bias) * self.scale


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Affine(3, 4)
        self.act = nn.ReLU()
        self.second = Affine(4, 2)
        self.register_buffer("counter", mc.tensor(np.zeros(2, dtype=np.float32)))

    def forward(self, x):
        return self.second(self.act(self.first(x)))


def test_registration_names_order_and_counts():
    model = TwoLayer()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["first.weight", "first.bias", "second.weight", "second.bias"]
    assert [p.shape for p in model.parameters()] == [(3, 4), (4,), (4, 2), (2,)]
    assert model.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2
    assert [type(m).__name__ for m in model.children()] == ["Affine", "ReLU", "Affine"]
    assert [n for n, _ in model.named_modules()] == ["", "first", "act", "second"]
    assert "scale" not in model._parameters and model.first.scale == 2.0
    assert list(model.state_dict()) == names[:0] + ["counter"] + names  # own buffers first
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())


def test_reassigning_moves_names_between_tables():
    model = TwoLayer()
    model.first = nn.ReLU()                               # a module replaced by a parameterless one
    assert [n for n, _ in model.named_parameters()] == ["second.weight", "second.bias"]
    model.second.bias = None                              # a parameter replaced by a plain value
    assert [n for n, _ in model.named_parameters()] == ["second.weight"]
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        model.missing


def test_sequential_names_indexing_len_iteration():
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 3, 1, bias=False))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Conv2d) and seq[1] is list(seq)[1]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight"]
    assert len(seq[:2]) == 2 and seq[:2][0] is seq[0]
    with pytest.raises(IndexError):
        seq[3]
    with pytest.raises(TypeError, match="Modules"):
        nn.Sequential(nn.ReLU(), "relu")


def test_nested_sequential_dotted_names():
    outer = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3)), nn.BatchNorm2d(2))
    assert list(outer.state_dict()) == ["0.0.weight", "0.0.bias", "1.weight", "1.bias",
                                        "1.running_mean", "1.running_var",
                                        "1.num_batches_tracked"]


def test_state_dict_is_a_host_copy_and_round_trips():
    a, b = TwoLayer(), TwoLayer()
    for p in a.parameters():
        p.data[...] = np.random.default_rng(0).standard_normal(p.shape)
    state = a.state_dict()
    state["first.weight"][...] = 7.0                      # a copy: the model is unchanged
    assert not np.any(a.first.weight.data == 7.0)
    b.load_state_dict(a.state_dict())
    x = mc.tensor(np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    weight = b.first.weight
    b.load_state_dict(a.state_dict())
    assert b.first.weight is weight                       # loaded in place: same Parameter


def test_load_state_dict_reports_every_problem_at_once():
    model = TwoLayer()
    state = model.state_dict()
    del state["first.bias"]
    state["third.weight"] = np.zeros(3)
    state["second.weight"] = np.zeros((5, 2))
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    text = str(info.value)
    assert "missing keys" in text and "first.bias" in text
    assert "unexpected keys" in text and "third.weight" in text
    assert "second.weight: expected shape (4, 2), got (5, 2)" in text
    state["second.weight"] = np.zeros((4, 2))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["first.bias"] and unexpected == ["third.weight"]


def test_train_eval_recursive_and_zero_grad():
    model = TwoLayer()
    assert all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model(mc.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_device_and_astype_keep_parameter_objects(device):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    params = list(model.parameters())
    model.to(device).double()
    assert list(model.parameters()) == params
    assert all(t.device == device for t in model._all_tensors())
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    assert model.state_dict()["0.weight"].dtype == np.float64   # host NumPy either way
    model.float().to("cpu")
    assert all(p.dtype == np.float32 and p.device == "cpu" for p in model.parameters())


def test_repr_shows_tree_counts_and_total():
    text = repr(TwoLayer())
    assert "(first): Affine()  # 16 parameters" in text
    assert "(act): ReLU()" in text
    assert text.endswith("Total parameters: 26")
    assert "Conv2d(1, 2, kernel_size=(3, 3), stride=2, bias=False)" in repr(
        nn.Conv2d(1, 2, 3, stride=2, bias=False))


def test_module_without_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.zeros(2))

    with pytest.raises(RuntimeError, match="super\\(\\).__init__"):
        Broken()


# ---- initialization ----
@pytest.mark.parametrize("layer, fan_in", [
    (lambda: nn.Conv2d(3, 8, 3), 3 * 9),
    (lambda: nn.Conv2d(4, 2, (1, 5)), 4 * 5),
    (lambda: nn.ConvTranspose2d(6, 5, 2, stride=2), 5 * 4),   # fan_in from weight axis 1: C_out
])
def test_default_init_bounds_are_pytorchs(layer, fan_in):
    mc.manual_seed(3)
    conv = layer()
    bound = 1 / math.sqrt(fan_in)     # kaiming_uniform_(a=sqrt(5)): sqrt(3)*sqrt(1/3)/sqrt(fan_in)
    for t in (conv.weight, conv.bias):
        values = t.numpy()
        assert values.dtype == np.float32
        assert np.abs(values).max() <= bound
    w = conv.weight.numpy()
    if w.size > 60:                         # uniform on (-b, b) has std b/sqrt(3) and fills it
        assert abs(w.std() - bound / math.sqrt(3)) < 0.15 * bound
        assert np.abs(w).max() > 0.8 * bound


def test_init_uses_global_seed_or_rng():
    mc.manual_seed(5)
    a = nn.Conv2d(2, 3, 3).weight.numpy()
    mc.manual_seed(5)
    b = nn.Conv2d(2, 3, 3).weight.numpy()
    c = nn.Conv2d(2, 3, 3, rng=np.random.default_rng(5)).weight.numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)          # same generator state -> same numbers
    assert not np.array_equal(a, nn.Conv2d(2, 3, 3).weight.numpy())


@pytest.mark.parametrize("fn, expected_std", [
    (lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"), math.sqrt(2 / (16 * 9))),
    (lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"), math.sqrt(2 / (16 * 9))),
    (lambda w: nn.init.xavier_uniform_(w), math.sqrt(2 / (16 * 9 + 32 * 9))),
    (lambda w: nn.init.xavier_normal_(w, gain=2.0), 2 * math.sqrt(2 / (16 * 9 + 32 * 9))),
])
def test_init_functions_have_the_documented_spread(fn, expected_std):
    w = nn.Parameter(np.zeros((32, 16, 3, 3), dtype=np.float32))    # fan_in 144, fan_out 288
    fn(w)
    assert abs(w.numpy().std() - expected_std) < 0.05 * expected_std
    assert abs(w.numpy().mean()) < 0.1 * expected_std


def test_constant_and_zeros():
    w = nn.Parameter(np.ones((2, 3), dtype=np.float32))
    nn.init.constant_(w, 0.25)
    assert np.all(w.numpy() == 0.25)
    nn.init.zeros_(w)
    assert np.all(w.numpy() == 0)
    with pytest.raises(ValueError, match="at least 2 axes"):
        nn.init.kaiming_uniform_(nn.Parameter(np.zeros(3, dtype=np.float32)))


# ---- layers ----
def test_conv_layers_shapes_and_gradcheck(device):
    mc.manual_seed(0)
    x = make(np.random.default_rng(0).standard_normal((2, 2, 6, 6)), device)
    conv = nn.Conv2d(2, 3, 3, padding=1).double().to(device)
    up = nn.ConvTranspose2d(3, 2, 2, stride=2).double().to(device)
    assert conv(x).shape == (2, 3, 6, 6)
    assert up(conv(x)).shape == (2, 2, 12, 12)
    small = make(np.random.default_rng(1).standard_normal((1, 2, 4, 4)), device)
    model = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.Sigmoid(),
                          nn.ConvTranspose2d(2, 1, 2, stride=2)).double().to(device)
    params = list(model.parameters())
    assert mc.gradcheck(lambda inp, *ps: model(inp), small, *params)


def test_pooling_upsample_layers(device):
    x = make(np.arange(16.0).reshape(1, 1, 4, 4), device, requires_grad=False)
    assert nn.MaxPool2d(2)(x).numpy().ravel().tolist() == [5, 7, 13, 15]
    assert nn.AvgPool2d(2)(x).numpy().ravel().tolist() == [2.5, 4.5, 10.5, 12.5]
    assert nn.Upsample(2)(x).shape == (1, 1, 8, 8)
    assert nn.Upsample(2, mode="bilinear")(x).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="nearest"):
        nn.Upsample(2, mode="cubic")


def test_batchnorm_training_updates_buffers_and_eval_uses_them(device):
    bn = nn.BatchNorm2d(3).to(device)
    x = make(np.random.default_rng(2).normal(2.0, 3.0, (4, 3, 5, 5)), device,
             requires_grad=False, dtype="float32")
    y = bn(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)   # normalized per channel
    batch_mean = x.numpy().mean(axis=(0, 2, 3))
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * batch_mean, rtol=1e-5)
    assert int(bn.num_batches_tracked.numpy()) == 1
    bn.eval()
    expected = (x.numpy() - bn.running_mean.numpy()[:, None, None]) / \
        np.sqrt(bn.running_var.numpy()[:, None, None] + 1e-5)
    np.testing.assert_allclose(bn(x).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert int(bn.num_batches_tracked.numpy()) == 1


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.5, rng=np.random.default_rng(0))
    x = mc.ones(1000)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 400 < (y == 0).sum() < 600
    np.testing.assert_array_equal(drop.eval()(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="0, 1"):
        nn.Dropout(1.0)
