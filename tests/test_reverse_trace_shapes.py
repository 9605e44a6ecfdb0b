"""Ordinary forward() code traces: shape checks, x.size(0) reshapes, asserts and branches on
shapes reverse (traced on the example's shapes, batch size free); code that needs tensor
values is still refused (issue 11, item 6).

Oracle: each net with checks shares its modules with an equivalent ``nn.Sequential`` without
them (which torch.fx traces symbolically); both give the same shadow, for several batch sizes.
"""

from __future__ import annotations

import json
import linecache

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from _cli import refused
from shadownets.cli import app
from shadownets.reverse import NotReversibleError, list_layers, reverse
from shadownets.reverse.graph import trace

DT = torch.float64


class DigitCNN(nn.Module):
    """A published-style digit CNN: input check first, then ``x.view(x.size(0), -1)``."""

    def __init__(self, input_size: int = 8) -> None:
        super().__init__()
        self.input_size = input_size
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 6, 3, padding=1), nn.ReLU())
        side = input_size // 2
        self.classifier = nn.Sequential(nn.Linear(6 * side * side, 12), nn.ReLU(),
                                        nn.Linear(12, 10))

    def forward(self, x):
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"expected {self.input_size}x{self.input_size} images, "
                             f"got {tuple(x.shape)}")
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)

    def oracle(self) -> nn.Sequential:
        return nn.Sequential(*self.features, nn.Flatten(), *self.classifier)


class AssertNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(3 * 2 * 2, 5)

    def forward(self, x):
        assert x.dim() == 4, "expected (batch, channels, height, width)"
        x = self.pool(torch.relu(self.conv(x)))
        return torch.relu(self.fc(x.reshape(x.shape[0], -1)))

    def oracle(self) -> nn.Sequential:
        return nn.Sequential(self.conv, nn.ReLU(), self.pool, nn.Flatten(), self.fc, nn.ReLU())


class GreyToRGB(nn.Module):
    """Accepts grey or colour images: grey ones are repeated to three channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 6 * 6, 7)

    def forward(self, x):
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = torch.relu(self.conv(x))
        return torch.relu(self.fc(x.flatten(1)))

    def oracle(self) -> nn.Sequential:
        return nn.Sequential(self.conv, nn.ReLU(), nn.Flatten(), self.fc, nn.ReLU())


class FlattenLen(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.fc1 = nn.Linear(3 * 4 * 4, 8)
        self.fc2 = nn.Linear(8, 6)

    def forward(self, x):
        x = torch.relu(self.conv(x)).flatten(1)
        x = torch.relu(self.fc1(x))
        x = x.reshape(len(x), -1)
        return torch.relu(self.fc2(x))

    def oracle(self) -> nn.Sequential:
        return nn.Sequential(self.conv, nn.ReLU(), nn.Flatten(), self.fc1, nn.ReLU(),
                             nn.Flatten(), self.fc2, nn.ReLU())


def _seeded(cls, *args):
    torch.manual_seed(0)
    return cls(*args).to(DT).eval()


# (net, per-sample input shape, layer in the net, same layer in its oracle)
CASES = {
    "digit": (lambda: _seeded(DigitCNN, 8), (1, 8, 8), "classifier.1", "7"),
    "assert": (lambda: _seeded(AssertNet), (2, 6, 6), "relu_1", "5"),
    "rgb": (lambda: _seeded(GreyToRGB), (3, 6, 6), "relu_1", "4"),
    "flatten_len": (lambda: _seeded(FlattenLen), (1, 6, 6), "relu_2", "7"),
}


def _x(batch: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed), dtype=DT)


@pytest.mark.parametrize("case", list(CASES))
def test_symbolic_fx_alone_refuses_these_nets(case):
    """The premise: without the example's shapes torch.fx cannot trace them."""
    make = CASES[case][0]
    with pytest.raises(NotReversibleError, match="torch.fx could not trace"):
        trace(make())


@pytest.mark.parametrize("example_batch", [1, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_checked_net_reverses_like_its_plain_oracle(case, example_batch):
    make, shape, layer, oracle_layer = CASES[case]
    model = make()
    oracle = model.oracle()
    shadow = reverse(model, _x(example_batch, shape, 0), layer, rho=0.5)
    expected = reverse(oracle, _x(2, shape, 1), oracle_layer, rho=0.5)
    assert shadow.code_shape == expected.code_shape and shadow.input_shape == shape
    assert shadow.alphas == pytest.approx(expected.alphas, rel=1e-12)
    for batch in (2, 5):  # neither is the example's batch size
        x = _x(batch, shape, 10 + batch)
        enc, ref = shadow.encode(x), expected.encode(x)
        torch.testing.assert_close(enc.h, ref.h, rtol=0, atol=0)
        plain = oracle[:int(oracle_layer) + 1](x)  # the plain forward up to the layer
        torch.testing.assert_close(enc.h, plain, rtol=0, atol=0)
        got = shadow.reconstruct(x, generator=torch.Generator().manual_seed(7))
        want = expected.reconstruct(x, generator=torch.Generator().manual_seed(7))
        assert got.shape == (batch, *shape)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        z = _x(batch, shape, 20 + batch)
        torch.testing.assert_close(shadow.lift(z, bias="none"), expected.lift(z, bias="none"),
                                   rtol=0, atol=0)


@pytest.mark.parametrize("case", ["digit", "assert", "flatten_len"])
def test_traced_graph_keeps_modules_and_a_free_batch_size(case):
    make, shape, _, _ = CASES[case]
    model = make()
    gm = trace(model, _x(3, shape, 0))
    leaves = {name for name, m in model.named_modules() if not list(m.children())}
    called = {str(n.target) for n in gm.graph.nodes if n.op == "call_module"}
    assert called == leaves - {""}
    for batch in (1, 4, 7):  # x.size(0) / len(x) are read on each run, not baked in
        x = _x(batch, shape, batch)
        torch.testing.assert_close(gm(x), model(x), rtol=0, atol=0)


def test_grey_input_is_traced_through_the_repeat_branch():
    model = CASES["rgb"][0]()
    grey = _x(2, (1, 6, 6), 0)
    assert any(n.target == "repeat" for n in trace(model, grey).graph.nodes)
    shadow = reverse(model, grey, "relu_1", to="repeat")
    assert shadow.input_shape == (3, 6, 6)
    expected = reverse(model.oracle(), grey.repeat(1, 3, 1, 1), "4")
    for batch in (1, 4):
        x = _x(batch, (1, 6, 6), batch)
        h = shadow.encode(x).h
        torch.testing.assert_close(h, expected.encode(x.repeat(1, 3, 1, 1)).h, rtol=0, atol=0)
        torch.testing.assert_close(shadow.generate(h), expected.generate(h), rtol=0, atol=0)
    # the colour trace does not take the branch: no repeat node at all
    colour = trace(model, _x(2, (3, 6, 6), 0))
    assert not any(n.target == "repeat" for n in colour.graph.nodes)


def test_shadow_holds_for_the_example_per_sample_shape_only():
    model = CASES["digit"][0]()
    shadow = reverse(model, _x(2, (1, 8, 8), 0), "classifier.1")
    with pytest.raises(ValueError, match=r"x: expected a tensor of shape \(batch, 1, 8, 8\)"):
        shadow.encode(_x(2, (1, 10, 10), 0))


class DeviceNet(nn.Module):
    """Builds a tensor like its input, with ``x.dtype`` and ``x.device``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        assert x.dim() == 2
        x = x + torch.zeros(4, dtype=x.dtype, device=x.device)
        return torch.relu(self.fc(x))


def _device_net_matches_its_oracle(device: str) -> None:
    torch.manual_seed(0)
    model = DeviceNet().to(device, DT).eval()
    oracle = nn.Sequential(model.fc, nn.ReLU())
    x = torch.randn(3, 4, dtype=DT, device=device)
    shadow, expected = reverse(model, x[:1], "relu"), reverse(oracle, x[:1], "1")
    torch.testing.assert_close(shadow.encode(x).h, oracle(x), rtol=0, atol=0)
    h = torch.rand(5, 3, dtype=DT, device=device)
    got = shadow.generate(h)
    assert got.device.type == device
    torch.testing.assert_close(got, expected.generate(h), rtol=0, atol=0)


def test_dtype_and_device_of_the_input_are_followed():
    _device_net_matches_its_oracle("cpu")
    torch.manual_seed(0)
    model = DeviceNet().to(DT).eval()
    shadow = reverse(model, torch.randn(1, 4, dtype=DT), "relu")
    model.float()  # the shadow shares the model: x.dtype is read on each run, not baked in
    x = torch.randn(3, 4)
    h = shadow.encode(x).h
    assert h.dtype == torch.float32
    torch.testing.assert_close(h, torch.relu(model.fc(x)), rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_shape_traced_net_reverses_on_the_gpu():
    _device_net_matches_its_oracle("cuda")
    model = CASES["digit"][0]().cuda()
    x = _x(4, (1, 8, 8), 0)
    cpu = reverse(CASES["digit"][0](), x[:1], "classifier.1").reconstruct(x)
    gpu = reverse(model, x[:1].cuda(), "classifier.1").reconstruct(x.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu)


def test_symbolically_traceable_nets_trace_as_before():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    x = torch.randn(2, 1, 4, 4)
    assert trace(model, x).code == trace(model).code


VALUE_DEPENDENT = {
    "sum": ("if x.sum() > 0:\n            x = -x", "a branch or assert on tensor values",
            "x.sum() > 0"),
    "any": ("if (x > 0).any():\n            x = -x", "a branch or assert on tensor values",
            "(x > 0).any()"),
    "item": ("x = x * x.mean().item()", r"\.item\(\) on tensor values", "x.mean().item()"),
    "tolist": ("x = x + len(x.tolist())", r"\.tolist\(\) on tensor values", "x.tolist()"),
    "nonzero": ("x = x[:, torch.nonzero(x[0]).flatten()]", r"nonzero\(\) on tensor values",
                "torch.nonzero"),
    "mask": ("x = x[x > 0].reshape(1, -1)", r"getitem\(\) on tensor values", "x[x > 0]"),
}


def _value_net(code: str) -> nn.Module:
    source = (
        "class ValueNet(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n"
        "    def forward(self, x):\n"
        "        assert x.dim() == 2\n"
        f"        {code}\n"
        "        return torch.relu(self.fc(x))\n")
    linecache.cache["value_net.py"] = (len(source), None, source.splitlines(True),
                                       "value_net.py")
    space = {"nn": nn, "torch": torch}
    exec(compile(source, "value_net.py", "exec"), space)  # noqa: S102 - test-built net
    return space["ValueNet"]()


@pytest.mark.parametrize("case", list(VALUE_DEPENDENT))
def test_value_dependent_code_is_still_refused(case):
    code, what, line = VALUE_DEPENDENT[case]
    model = _value_net(code)
    with pytest.raises(NotReversibleError,
                       match=f"torch.fx could not trace ValueNet.forward: {what} at "
                             r"value_net.py:7 .*; data-dependent control flow is not reversible"
                       ) as info:
        reverse(model, torch.randn(3, 4), "relu")
    assert line in str(info.value)  # the model's own line is quoted


def test_a_refusal_caught_by_the_model_is_still_a_refusal():
    model = _value_net("try:\n            x = -x if x.sum() > 0 else x\n"
                       "        except Exception:\n            pass")
    with pytest.raises(NotReversibleError, match=r"value_net.py:8 \(`x = -x if x.sum"):
        reverse(model, torch.randn(3, 4), "relu")


def test_batch_size_used_as_a_number_is_refused():
    class BatchBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            if x.shape[0] == 1:
                x = x * 2.0
            return torch.relu(self.fc(x))

    class IntBatch(BatchBranch):
        def forward(self, x):
            assert x.dim() == 2
            return torch.relu(self.fc(x.view(int(x.size(0)), -1)))

    with pytest.raises(NotReversibleError, match=r"BatchBranch.forward uses the batch size as a "
                                                 r"plain number at .*x = x \* 2.0.* between "
                                                 r"batch sizes 1 and 2"):
        reverse(BatchBranch(), torch.randn(1, 4), "relu")
    with pytest.raises(NotReversibleError, match="IntBatch.forward uses the batch size"):
        reverse(IntBatch(), torch.randn(3, 4), "relu")


def test_the_models_own_check_on_the_example_is_a_clear_value_error():
    model = DigitCNN(8)
    with pytest.raises(ValueError, match=r"example_input: DigitCNN.forward fails on an input "
                                         r"of shape \(2, 1, 9, 9\): ValueError: expected 8x8"):
        reverse(model, torch.randn(2, 1, 9, 9), "classifier.1")
    with pytest.raises(ValueError, match="example_input: AssertNet.forward fails .*AssertionError"):
        list_layers(AssertNet(), torch.randn(2, 6, 6))


def test_custom_autograd_function_is_refused_on_the_shape_path_too():
    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    class Checked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            assert x.dim() == 2
            return Double.apply(self.fc(x))

    with pytest.raises(NotReversibleError, match="custom autograd Function Double"):
        reverse(Checked(), torch.randn(2, 3), "fc")


def test_shape_tracing_leaves_the_model_as_it_was():
    class WithBN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            if x.ndim != 4:
                raise ValueError("expected 4-d input")
            return torch.relu(self.bn(self.conv(x)) + torch.ones(3, 1, 1))

    model = WithBN().train()
    before = model.bn.running_mean.clone()
    attrs = set(vars(model))
    shadow = reverse(model, torch.randn(2, 1, 5, 5), "relu")
    assert model.training and model.bn.training
    torch.testing.assert_close(model.bn.running_mean, before)
    assert set(vars(model)) == attrs  # fx's tensor constants live in the trace, not the model
    assert shadow.generate(torch.rand(4, 3, 3, 3)).shape == (4, 1, 5, 5)


# ---------------------------------------------------------------- CLI
NETS = '''
import torch
import torch.nn as nn


class DigitCNN(nn.Module):
    def __init__(self, input_size=8):
        super().__init__()
        self.input_size = input_size
        self.input_shape = (1, input_size, input_size)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * (input_size // 2) ** 2, 10)

    def forward(self, x):
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"expected {self.input_size}x{self.input_size} digits, "
                             f"got {tuple(x.shape[-2:])}")
        x = self.pool(torch.relu(self.conv(x)))
        x = x.view(x.size(0), -1)
        return torch.relu(self.fc(x))


class Signed(DigitCNN):
    def forward(self, x):
        if x.mean() > 0:
            x = -x
        return super().forward(x)


def digit(input_size=8):
    return DigitCNN(input_size)


def signed():
    return Signed()
'''

runner = CliRunner()


@pytest.fixture()
def nets(tmp_path):
    path = tmp_path / "digit_nets.py"
    path.write_text(NETS)
    return path


def test_cli_generate_and_layers_on_a_checked_digit_cnn(nets, tmp_path):
    res = runner.invoke(app, ["layers", "--model", f"{nets}:digit", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["name"] for r in rows] == ["conv", "relu", "pool", "view", "fc", "relu_1"]
    assert all(r["reversible"] for r in rows)
    out = tmp_path / "grid.png"
    res = runner.invoke(app, ["generate", "--model", f"{nets}:digit", "--layer", "relu_1",
                              "--data", "digits", "--data-dir", str(tmp_path / "data"),
                              "--n", "4", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n"] == 4
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_refusals_of_checked_nets_are_one_line(nets, tmp_path):
    base = ["generate", "--layer", "relu_1", "--data", "digits", "--data-dir",
            str(tmp_path / "data"), "--n", "2", "--out", str(tmp_path / "g.png")]
    res = runner.invoke(app, [*base, "--model", f"{nets}:digit",
                              "--model-kwargs", '{"input_size": 28}'])
    refused(res, "example_input: DigitCNN.forward fails on an input of shape (1, 1, 8, 8)",
            "expected 28x28 digits, got (8, 8)")
    res = runner.invoke(app, [*base, "--model", f"{nets}:signed"])
    refused(res, "could not trace Signed.forward", "x.mean() > 0",
            "data-dependent control flow is not reversible")
    assert not (tmp_path / "g.png").exists()
