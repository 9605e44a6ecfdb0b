"""Tracing, activation points, the reversed graph and its errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shadownets.reverse import NotReversibleError, list_layers, reverse

DT = torch.float64


def seq_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(),
                         nn.Linear(6 * 4 * 4, 12), nn.ReLU())


class FunctionalNet(nn.Module):
    """The same net as :func:`seq_net` written with functional calls."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 4 * 4, 12)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.c1(x)), 2)
        x = F.relu(self.c2(x), inplace=True)
        x = x.view(x.size(0), -1)
        return self.fc(x).relu()


def lenet() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120),
                         nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def vgg() -> nn.Sequential:
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2)]

    return nn.Sequential(*block(3, 8), *block(8, 16), nn.Flatten(), nn.Dropout(0.5),
                         nn.Linear(16 * 4 * 4, 10))


class Block(nn.Module):
    def __init__(self, cin, cout, stride, relu=True):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                    nn.BatchNorm2d(cout)) if stride != 1 or cin != cout
                      else nn.Identity())
        self.act = nn.ReLU() if relu else nn.Identity()

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.short(x))


class ResNet(nn.Module):
    def __init__(self, relu=True, mean=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.act = nn.ReLU() if relu else nn.Identity()
        self.layer1 = Block(8, 8, 1, relu)
        self.layer2 = Block(8, 16, 2, relu)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)
        self.mean = mean

    def forward(self, x):
        x = self.layer2(self.layer1(self.act(self.stem(x))))
        x = x.mean((2, 3)) if self.mean else torch.flatten(self.pool(x), 1)
        return self.fc(x)


def _randomize_bn(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


def test_sequential_and_functional_nets_give_identical_shadows():
    torch.manual_seed(0)
    seq, fun = seq_net().to(DT), FunctionalNet().to(DT)
    fun.load_state_dict({"c1.weight": seq[0].weight, "c1.bias": seq[0].bias,
                         "c2.weight": seq[3].weight, "c2.bias": seq[3].bias,
                         "fc.weight": seq[6].weight, "fc.bias": seq[6].bias})
    x = torch.randn(5, 1, 10, 10, dtype=DT)
    names = [info.name for info in list_layers(fun, x)]
    assert names == ["c1", "relu", "max_pool2d", "c2", "relu_1", "view", "fc", "relu_2"]
    assert [i.kind for i in list_layers(seq, x)] == [
        "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "Flatten", "Linear", "ReLU"]
    for unpool in ("switches", "random", "spread"):
        a = reverse(seq, x[:1], "7", rho=0.6, unpool=unpool)
        b = reverse(fun, x[:1], "relu_2", rho=0.6, unpool=unpool)
        assert a.alphas == b.alphas and a.code_shape == b.code_shape == (12,)
        ea, eb = a.encode(x), b.encode(x)
        torch.testing.assert_close(ea.h, eb.h)
        out_a = a.generate(ea.h, switches=ea.switches,
                           generator=torch.Generator().manual_seed(3))
        out_b = b.generate(eb.h, switches=eb.switches,
                           generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
        assert out_a.shape == x.shape


@pytest.mark.parametrize("build,shape", [(lenet, (1, 28, 28)), (vgg, (3, 16, 16)),
                                         (ResNet, (3, 8, 8)),
                                         (lambda: ResNet(mean=True), (3, 8, 8))])
def test_shapes_round_trip_at_every_layer(build, shape):
    torch.manual_seed(0)
    model = _randomize_bn(build())
    x = torch.randn(3, *shape)
    layers = list_layers(model, x)
    assert layers and all(info.reversible for info in layers)
    with torch.no_grad():
        for info in layers:
            shadow = reverse(model, x[:1], info.name, rho=0.8)
            enc = shadow.encode(x)
            assert tuple(enc.h.shape) == (3, *info.shape) == (3, *shadow.code_shape)
            gen = shadow.generate(enc.h, switches=enc.switches,
                                  generator=torch.Generator().manual_seed(0))
            assert gen.shape == x.shape and torch.isfinite(gen).all()
            assert shadow.lift(gen).shape == enc.h.shape


def test_residual_shadow_without_relus_is_the_exact_transpose():
    """With α = 1, ρ = 1 and no ReLU, the shadow net is Aᵀ of the whole (linear) net:
    fan-outs become sums and the residual sum becomes a copy."""
    torch.manual_seed(0)
    model = _randomize_bn(ResNet(relu=False)).to(DT)
    x = torch.randn(2, 3, 8, 8, dtype=DT)
    shadow = reverse(model, x, "fc", alpha=1.0)
    assert len(shadow.alphas) == 7  # stem, 2 + 3 convs in the blocks, fc

    def linear(t):
        return shadow.lift(t, bias="none")

    y = torch.randn(2, 10, dtype=DT)
    _, pull = torch.func.vjp(linear, x)
    torch.testing.assert_close(shadow.generate(y), pull(y)[0], rtol=1e-10, atol=1e-10)
    # lift with the trained biases is the model itself
    torch.testing.assert_close(shadow.lift(x), model(x))


def test_to_cuts_the_net_and_lift_matches_the_model():
    torch.manual_seed(0)
    model = vgg().eval()
    x = torch.randn(2, 3, 16, 16)
    shadow = reverse(model, x, "10", to="5")
    assert shadow.input_shape == (8, 8, 8) and shadow.to == "5"
    with torch.no_grad():
        z = model[:6](x)
        torch.testing.assert_close(shadow.lift(z), model[6:11](z))
        assert shadow.generate(shadow.encode(x).h).shape == (2, 8, 8, 8)


def test_to_must_cut_every_path_and_lie_below():
    model = ResNet().eval()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="to: 'layer1.conv1' does not cut every path"):
        reverse(model, x, "layer1_act_1", to="layer1.conv1")
    with pytest.raises(ValueError, match="to: 'fc' is not below layer 'layer1.conv1'"):
        reverse(model, x, "layer1.conv1", to="fc")


def test_unknown_layer_and_bad_arguments():
    model, x = seq_net(), torch.randn(1, 1, 10, 10)
    with pytest.raises(ValueError, match=r"layer: unknown activation point 'nope'; known: 0, 1"):
        reverse(model, x, "nope")
    with pytest.raises(ValueError, match="unpool: expected one of switches, spread"):
        reverse(model, x, "7", unpool="median")
    with pytest.raises(ValueError, match=r"example_input: expected a tensor of shape \(batch"):
        reverse(model, torch.randn(5), "7")
    with pytest.raises(ValueError, match="model: expected a torch.nn.Module"):
        list_layers(lambda t: t, x)


class WithLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.lstm = nn.LSTM(3, 4, batch_first=True)

    def forward(self, x):
        return self.lstm(torch.relu(self.fc(x)))[0].relu()


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return 2 * g


class WithFunction(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return Double.apply(self.fc(x))


class Branching(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


def test_unsupported_operations_raise_clear_errors():
    x = torch.randn(2, 5, 3)
    with pytest.raises(NotReversibleError, match="module LSTM at 'lstm' has no reverse rule"):
        reverse(WithLSTM(), x, "relu_1")
    # below the LSTM the net is still reversible
    assert reverse(WithLSTM(), x, "relu").code_shape == (5, 3)
    with pytest.raises(NotReversibleError, match="custom autograd Function Double"):
        reverse(WithFunction(), torch.randn(2, 3), "fc")
    with pytest.raises(NotReversibleError, match="torch.fx could not trace Branching"):
        list_layers(Branching(), torch.randn(2, 3))
    assert isinstance(NotReversibleError("x"), ValueError)


def test_unsupported_stem_can_be_skipped_with_to():
    model = nn.Sequential(nn.Tanh(), nn.Linear(4, 6), nn.ReLU()).eval()
    x = torch.randn(3, 4)
    with pytest.raises(NotReversibleError, match="module Tanh at '0'"):
        reverse(model, x, "2")
    infos = {i.name: i.reversible for i in list_layers(model, x)}
    assert infos == {"1": False, "2": False}
    shadow = reverse(model, x, "2", to="0")
    assert shadow.generate(shadow.encode(x).h).shape == (3, 4)


def test_ops_mixing_the_batch_are_refused():
    class Mixer(nn.Module):
        def forward(self, x):
            return torch.relu(x.reshape(-1)) + 0.0

    with pytest.raises(NotReversibleError, match=r"'reshape' changes the batch dim \(2 -> \(6,"):
        reverse(Mixer(), torch.randn(2, 3), "add")


def test_multiple_inputs_are_refused():
    class Two(nn.Module):
        def forward(self, x, y):
            return x + y

    with pytest.raises(NotReversibleError, match="exactly one tensor argument, got 2"):
        list_layers(Two(), torch.randn(1, 2))


def test_tracing_leaves_training_mode_and_bn_statistics_alone():
    model = vgg().train()
    before = model[1].running_mean.clone()
    list_layers(model, torch.randn(1, 3, 16, 16))
    assert model.training and model[1].training
    torch.testing.assert_close(model[1].running_mean, before)
