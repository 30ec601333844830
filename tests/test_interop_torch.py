"""minicnn <-> PyTorch: to_torch(model) is a torch.nn.Module with the same architecture, names
and weights (equal logits to 1e-5 in float64), from_torch brings a (further trained) module back,
and `minicnn export --format torch` writes a model.pt that load_torch rebuilds."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (CI installs torch==2.13.0)")

import minicnn as mc  # noqa: E402
from minicnn import cli, interop  # noqa: E402
from tests.export_cases import CONFIGS, nuclei_model, random_input, small_model  # noqa: E402


def minicnn_logits(model, x):
    with mc.no_grad():
        return model(mc.tensor(x)).numpy()


def torch_logits(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", ["nuclei"] + sorted(CONFIGS))
def test_to_torch_gives_equal_logits_in_float64(name):
    model = (nuclei_model() if name == "nuclei" else small_model(name)).double()
    module = interop.to_torch(model)
    assert not module.training and next(module.parameters()).dtype == torch.float64
    for x in (random_input(model, 1, 3, 5, seed=1, dtype=np.float64),
              random_input(model, 2, 4, 2, seed=2, dtype=np.float64)):
        assert np.abs(torch_logits(module, x) - minicnn_logits(model, x)).max() < 1e-5


def test_names_and_weights_are_minicnn_s():
    model = small_model("depth4_transpose_bn_dropout")
    state = interop.to_torch(model).state_dict()
    assert list(state) == list(model.state_dict())          # same keys, same order
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(state[name].numpy(), value)


def test_training_mode_batch_norm_matches_too():
    """In training mode BatchNorm uses the batch statistics and updates its running ones:
    logits and the updated running statistics agree."""
    model = small_model("depth4_transpose_bn_dropout", seed=3).double()
    model.config["dropout"] = 0.0            # dropout draws random masks: compare without it
    model.train()
    module = interop.to_torch(model)
    assert module.training
    x = random_input(model, 2, 2, 2, seed=4, dtype=np.float64)
    assert np.abs(torch_logits(module, x) - minicnn_logits(model, x)).max() < 1e-5
    running = module.state_dict()["encoder.0.bn1.running_var"].numpy()
    assert np.abs(running - model.encoder[0].bn1.running_var.numpy()).max() < 1e-10


def test_train_in_torch_then_from_torch():
    model = small_model("depth2_rgb_bilinear").double()
    module = interop.to_torch(model).train()
    x = torch.from_numpy(random_input(model, 2, 2, 2, seed=5, dtype=np.float64))
    target = torch.randint(0, 4, (2, 4, 4), generator=torch.Generator().manual_seed(0))
    for _ in range(3):                       # plain SGD steps (torch.optim's import is slow)
        module.zero_grad()
        torch.nn.functional.cross_entropy(module(x), target).backward()
        with torch.no_grad():
            for p in module.parameters():
                p -= 0.1 * p.grad
    module.eval()
    back = interop.from_torch(module)
    assert back.metadata == model.metadata and back.config == model.config
    assert np.abs(minicnn_logits(back, x.numpy()) - torch_logits(module, x.numpy())).max() < 1e-5
    assert np.abs(back.head.weight.numpy() - model.head.weight.numpy()).max() > 1e-4  # it moved


def test_from_torch_unwraps_a_distributed_wrapper_and_refuses_foreign_modules():
    module = interop.to_torch(small_model("depth1_3classes"))

    class Wrapper(torch.nn.Module):           # what DistributedDataParallel looks like here
        def __init__(self, inner):
            super().__init__()
            self.module = inner

    back = interop.from_torch(Wrapper(module))
    np.testing.assert_array_equal(back.head.weight.numpy(), module.head.weight.detach().numpy())
    with pytest.raises(interop.ExportError, match="Conv2d has no minicnn_config"):
        interop.from_torch(torch.nn.Conv2d(1, 1, 3))


def test_unknown_module_is_named():
    class Swish(mc.nn.Module):
        def forward(self, x):
            return x * mc.functional.sigmoid(x)

    model = small_model("depth1_3classes")
    model.decoder_extra = Swish()            # not a child the UNet forward uses, still refused
    model.encoder[0].relu2 = Swish()
    with pytest.raises(interop.ExportError, match=r"model\.encoder\.0\.relu2 \(Swish\)"):
        interop.to_torch(model)


def test_cli_export_torch_round_trip(tmp_path, capsys):
    out = tmp_path / "nuclei.pt"
    assert cli.main(["export", "nuclei", "--format", "torch", "--out", str(out)]) == 0
    saved = torch.load(out, weights_only=True)                    # no code runs on load
    assert saved["format"] == "minicnn-torch" and saved["config"]["depth"] == 3
    module = interop.load_torch(out).eval()
    model = nuclei_model()
    x = random_input(model, 1, 8, 8, seed=6)
    assert np.abs(torch_logits(module, x) - minicnn_logits(model, x)).max() < 1e-4   # float32
    assert cli.main(["export", "nuclei", "--format", "torch", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
