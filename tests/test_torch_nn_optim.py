"""minicnn's optimizers and default initialization against PyTorch, number for number."""
import math

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn, optim

torch = pytest.importorskip("torch")


def trajectories(make_ours, make_theirs, steps=5):
    """Run both optimizers on the same quadratic-plus-sine loss from the same start (float64)."""
    rng = np.random.default_rng(0)
    starts = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    target = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    ours = [nn.Parameter(mc.tensor(s.copy())) for s in starts]
    theirs = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    opt_ours, opt_theirs = make_ours(ours), make_theirs(theirs)
    for _ in range(steps):
        for p, t in zip(ours, target):                 # grad of sum((p - t)^2 + sin(3p))
            p.grad = 2 * (p.data - t) + 3 * np.cos(3 * p.data)
        opt_ours.step()
        opt_theirs.zero_grad()
        loss = sum(((p - torch.tensor(t)) ** 2 + torch.sin(3 * p)).sum()
                   for p, t in zip(theirs, target))
        loss.backward()
        opt_theirs.step()
    return [p.numpy() for p in ours], [p.detach().numpy() for p in theirs]


@pytest.mark.parametrize("settings", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    dict(lr=0.02, momentum=0.5, dampening=0.1, weight_decay=0.1),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
])
def test_sgd_matches_torch(settings):
    ours, theirs = trajectories(lambda ps: optim.SGD(ps, **settings),
                                lambda ps: torch.optim.SGD(ps, **settings))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("settings", [
    dict(),
    dict(lr=0.05),
    dict(lr=0.01, betas=(0.8, 0.99)),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.03, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.01),
])
def test_adam_matches_torch(settings):
    ours, theirs = trajectories(lambda ps: optim.Adam(ps, **settings),
                                lambda ps: torch.optim.Adam(ps, **settings))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: nn.Conv2d(8, 16, 3), lambda: torch.nn.Conv2d(8, 16, 3)),
    (lambda: nn.Conv2d(3, 32, (3, 5)), lambda: torch.nn.Conv2d(3, 32, (3, 5))),
    (lambda: nn.ConvTranspose2d(16, 4, 2, stride=2),
     lambda: torch.nn.ConvTranspose2d(16, 4, 2, stride=2)),
])
def test_default_init_has_torchs_distribution(ours, theirs):
    mc.manual_seed(0)
    torch.manual_seed(0)
    a, b = ours(), theirs()
    for name in ("weight", "bias"):
        x = getattr(a, name).numpy().astype(np.float64)
        y = getattr(b, name).detach().numpy().astype(np.float64)
        assert x.shape == y.shape
        bound = 1 / math.sqrt(torch.nn.init._calculate_fan_in_and_fan_out(b.weight)[0])
        assert np.abs(x).max() <= bound and np.abs(y).max() <= bound   # the same bound
        n = max(x.size, 30)
        # both uniform on (-bound, bound): std bound/sqrt(3); compare with a few standard errors
        assert abs(x.std() - y.std()) < 6 * bound / math.sqrt(n)
        assert abs(x.mean() - y.mean()) < 6 * bound / math.sqrt(n)


@pytest.mark.parametrize("fn, torch_fn", [
    (lambda w: nn.init.kaiming_uniform_(w, a=0.1, mode="fan_out"),
     lambda w: torch.nn.init.kaiming_uniform_(w, a=0.1, mode="fan_out")),
    (lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
     lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu")),
    (lambda w: nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain("tanh")),
     lambda w: torch.nn.init.xavier_uniform_(w, gain=torch.nn.init.calculate_gain("tanh"))),
    (lambda w: nn.init.xavier_normal_(w), lambda w: torch.nn.init.xavier_normal_(w)),
])
def test_init_functions_have_torchs_spread(fn, torch_fn):
    ours = nn.Parameter(np.zeros((64, 32, 3, 3), dtype=np.float32))
    fn(ours)
    theirs = torch.zeros(64, 32, 3, 3)
    torch_fn(theirs)
    assert abs(ours.numpy().std() / theirs.numpy().std() - 1) < 0.03
    assert abs(np.abs(ours.numpy()).max() / np.abs(theirs.numpy()).max() - 1) < 0.25


class TorchUNet(torch.nn.Module):
    """The same architecture written with torch.nn, parameters in the same order as ours."""

    def __init__(self, in_ch=1, out_ch=1, base=16, depth=3, up="nearest"):
        super().__init__()

        def block(i, o):
            return torch.nn.Sequential(torch.nn.Conv2d(i, o, 3, padding=1), torch.nn.ReLU(),
                                       torch.nn.Conv2d(o, o, 3, padding=1), torch.nn.ReLU())
        ch = [base * 2 ** level for level in range(depth)]
        levels_up = range(depth - 2, -1, -1)
        self.up_mode = up
        self.enc = torch.nn.ModuleList(block(in_ch if i == 0 else ch[i - 1], ch[i])
                                       for i in range(depth))
        self.ups = torch.nn.ModuleList(
            torch.nn.ConvTranspose2d(ch[lv + 1], ch[lv], 2, stride=2) if up == "transpose"
            else torch.nn.Conv2d(ch[lv + 1], ch[lv], 1) for lv in levels_up)
        self.decs = torch.nn.ModuleList(block(2 * ch[lv], ch[lv]) for lv in levels_up)
        self.head = torch.nn.Conv2d(ch[0], out_ch, 1)

    def forward(self, x):
        skips = []
        for i, b in enumerate(self.enc):
            x = b(torch.nn.functional.max_pool2d(x, 2) if i else x)
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.ups, self.decs):
            x = up(x)
            if self.up_mode != "transpose":
                x = torch.nn.functional.interpolate(x, scale_factor=2, mode=self.up_mode)
            x = dec(torch.cat([skips.pop(), x], 1))
        return self.head(x)


@pytest.mark.parametrize("config", [dict(), dict(base_channels=8, depth=2),
                                    dict(in_channels=3, out_channels=4, depth=4)])
def test_unet_parameter_count_matches_torch(config):
    full = dict(in_channels=1, out_channels=1, base_channels=16, depth=3) | config
    ours = mc.models.UNet(**full).num_parameters()
    theirs = sum(p.numel() for p in TorchUNet(*full.values()).parameters())
    assert ours == theirs


@pytest.mark.parametrize("up", ["nearest", "bilinear", "transpose"])
@pytest.mark.parametrize("depth", [2, 3])
def test_unet_output_and_gradients_match_torch(up, depth):
    mc.manual_seed(0)
    ours = mc.models.UNet(in_channels=2, out_channels=3, base_channels=4, depth=depth,
                          up=up).double()
    theirs = TorchUNet(2, 3, 4, depth, up).double()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert p.shape == tuple(q.shape)
        q.data = torch.tensor(p.numpy())
    x = np.random.default_rng(1).standard_normal((2, 2, 8, 12))
    weights = np.random.default_rng(2).standard_normal((2, 3, 8, 12))
    y = ours(mc.tensor(x))
    (y * mc.tensor(weights)).sum().backward()
    y_torch = theirs(torch.tensor(x))
    (y_torch * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(y.numpy(), y_torch.detach().numpy(), rtol=1e-10, atol=1e-12)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)
