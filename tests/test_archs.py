"""The torchvision-layout architectures (shadownets.archs) against an independent reference.

Oracles: ``tests/_torchvision_reference.py`` (a transcription of torchvision's classes that
does not import shadownets), the manifests written from it, torchvision's documented
parameter counts, and torchvision itself when it is importable.
"""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from shadownets.archs import ACTIVATIONS, arch_manifest, create_arch, list_archs
from shadownets.reverse import list_layers, reverse
from shadownets.specs import apply_state_dict, build_model, load_model

sys.path.insert(0, str(Path(__file__).parent))
from _torchvision_reference import DOCUMENTED_NUM_PARAMS, REFERENCE_BUILDERS  # noqa: E402

NAMES = ["alexnet", "vgg11_bn", "vgg16", "resnet18", "resnet50"]
CHEAP = ("alexnet", "resnet18")  # quick to build with real tensors on CPU
FILES = ("resnet18",)  # weight files in the fast tests (the others: slow)
#: Smallest input each net is tested at with real tensors (AlexNet needs >= 63×63).
SMALL_INPUT = {"alexnet": 64, "resnet18": 64, "vgg11_bn": 32, "vgg16": 32, "resnet50": 64}


def _cheap_or_slow(cheap=CHEAP):
    return [n if n in cheap else pytest.param(n, marks=pytest.mark.slow) for n in NAMES]


def _meta(name, **kwargs):
    with torch.device("meta"):
        return create_arch(name, **kwargs)


def _layout(model):
    return [(k, list(v.shape)) for k, v in model.state_dict().items()]


def _random_state(name, seed=0):
    """A state dict with the manifest's keys and shapes, random entries."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in arch_manifest(name)["state_dict"].items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        else:  # positive, so that BatchNorm running variances are valid
            state[key] = torch.rand(shape, generator=g) + 0.5
    return state


def _assert_holds(model, state):
    own = model.state_dict()
    assert list(own) == list(state)
    for key, value in state.items():
        assert own[key].device.type == "cpu"
        assert torch.equal(own[key], value), key


# ---------------------------------------------------------------- layout
def test_registry_has_the_five_torchvision_nets():
    assert list_archs() == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_keys_and_shapes_equal_the_manifest(name):
    manifest = arch_manifest(name)
    assert _layout(_meta(name)) == list(manifest["state_dict"].items())
    assert manifest["num_tensors"] == len(manifest["state_dict"])


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_is_torchvisions_documented_one(name):
    count = sum(p.numel() for p in _meta(name).parameters())
    assert count == DOCUMENTED_NUM_PARAMS[name] == arch_manifest(name)["num_params"]


def test_manifests_are_those_of_the_reference():
    path = Path(__file__).parents[1] / "scripts" / "make_arch_manifests.py"
    spec = importlib.util.spec_from_file_location("make_arch_manifests", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--check"]) == 0


@pytest.mark.parametrize("name", NAMES)
def test_reference_has_the_manifest_layout(name):
    with torch.device("meta"):
        ref = REFERENCE_BUILDERS[name]()
    assert _layout(ref) == list(arch_manifest(name)["state_dict"].items())


@pytest.mark.parametrize("name", _cheap_or_slow())
def test_random_init_is_torchvisions(name):
    torch.manual_seed(3)
    ref = REFERENCE_BUILDERS[name]().state_dict()
    torch.manual_seed(3)
    ours = create_arch(name).state_dict()
    assert list(ours) == list(ref)
    assert all(torch.equal(ours[k], ref[k]) for k in ref)


def test_zero_init_residual_is_torchvisions():
    torch.manual_seed(5)
    ref = REFERENCE_BUILDERS["resnet18"](zero_init_residual=True)
    torch.manual_seed(5)
    ours = create_arch("resnet18", zero_init_residual=True)
    assert torch.count_nonzero(ours.layer1[0].bn2.weight) == 0
    assert torch.count_nonzero(ours.layer1[0].bn1.weight) == 64
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(),
                                                 ours.state_dict().values(), strict=True))


def test_num_classes_and_dropout_reach_the_modules():
    with torch.device("meta"):
        net = create_arch("alexnet", num_classes=10, dropout=0.25)
    assert net.classifier[6].out_features == 10
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.25, 0.25]
    assert _meta("resnet50", num_classes=3).fc.weight.shape == (3, 2048)
    assert _meta("vgg16", num_classes=7).classifier[6].weight.shape == (7, 4096)


# ---------------------------------------------------------------- activations
def _kinds(model):
    return [type(m) for m in model.modules() if not list(m.children())]


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - {"relu"}))
@pytest.mark.parametrize("name", NAMES)
def test_activation_swaps_every_relu_and_keeps_the_keys(name, activation):
    plain, swapped = _meta(name), _meta(name, activation=activation)
    new = type(ACTIVATIONS[activation]())
    want = [new if k is nn.ReLU else k for k in _kinds(plain)]
    assert _kinds(swapped) == want
    assert nn.ReLU not in _kinds(swapped)
    assert _layout(swapped) == list(arch_manifest(name)["state_dict"].items())


def test_activation_gelu_changes_the_outputs_not_the_weights():
    torch.manual_seed(0)
    relu = create_arch("resnet18").eval()
    gelu = create_arch("resnet18", activation="gelu").eval()
    apply_state_dict(gelu, relu.state_dict())
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert not torch.allclose(relu(x), gelu(x))


# ---------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("kwargs, match", [
    ({"activation": "tanh"}, r"alexnet: activation: expected one of 'relu', 'gelu'.*got 'tanh'"),
    ({"num_classes": 0}, r"alexnet: num_classes: expected an int >= 1, got 0"),
    ({"num_classes": True}, r"num_classes: expected an int >= 1, got True"),
    ({"dropout": 1.5}, r"alexnet: dropout: expected a probability in \[0, 1\], got 1.5"),
    ({"dropot": 0.1}, r"alexnet: unknown keyword\(s\) dropot; accepted: num_classes, dropout, "
                      r"activation"),
    ({"input_shape": [3, 224, 224]},
     r"unknown keyword\(s\) input_shape \(the input size is not fixed"),
])
def test_bad_kwargs_give_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        _meta("alexnet", **kwargs)
    assert "\n" not in str(info.value)


def test_bad_kwargs_of_each_family():
    with pytest.raises(ValueError, match="resnet18: zero_init_residual: expected true or false"):
        _meta("resnet18", zero_init_residual="yes")
    with pytest.raises(ValueError, match="vgg16: init_weights: expected true or false"):
        _meta("vgg16", init_weights=1)
    with pytest.raises(ValueError, match="unknown keyword\\(s\\) dropout; accepted: num_classes, "
                                         "zero_init_residual, activation"):
        _meta("resnet50", dropout=0.1)
    with pytest.raises(ValueError, match="unknown architecture 'vgg19'; known: alexnet, "):
        create_arch("vgg19")
    with pytest.raises(ValueError, match="unknown architecture 'vgg19'"):
        arch_manifest("vgg19")


def test_zoo_spec_builds_an_arch_with_kwargs():
    with torch.device("meta"):
        model = build_model("zoo:alexnet", {"activation": "gelu", "num_classes": 10})
    assert isinstance(model.features[1], nn.GELU)
    assert model.classifier[6].out_features == 10
    assert model.arch_name == "alexnet"
    assert model.arch_kwargs == {"activation": "gelu", "num_classes": 10}
    with pytest.raises(ValueError, match=r"^zoo:resnet18: activation: expected one of"):
        load_model("zoo:resnet18", {"activation": "swish"})
    with pytest.raises(ValueError, match=r"torchvision-layout architecture \(alexnet, resnet18"):
        load_model("zoo:alexnet2")


# ---------------------------------------------------------------- loading weight files
@pytest.fixture(scope="module", params=_cheap_or_slow(FILES))
def saved(request, tmp_path_factory):
    """(name, state, {"plain", "cuda", "ddp": path}) for a random state of the manifest."""
    name = request.param
    state = _random_state(name)
    folder = tmp_path_factory.mktemp(name)
    paths = {kind: folder / f"{name}-{kind}.pth" for kind in ("plain", "cuda", "ddp")}
    torch.save(state, paths["plain"])
    with pytest.MonkeyPatch.context() as mp:  # storages tagged as if saved from a GPU
        mp.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(state, paths["cuda"])
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}},
               paths["ddp"])
    return name, state, paths


def test_plain_state_dict_file_loads(saved):
    name, state, paths = saved
    _assert_holds(load_model(f"zoo:{name}", weights=paths["plain"]), state)


def test_cuda_saved_file_loads_on_cpu(saved):
    name, state, paths = saved
    if not torch.cuda.is_available():  # the file really asks for CUDA storages
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(paths["cuda"], weights_only=True)
    _assert_holds(load_model(f"zoo:{name}", weights=paths["cuda"]), state)


def test_ddp_checkpoint_with_module_prefix_loads(saved):
    name, state, paths = saved
    _assert_holds(load_model(f"zoo:{name}", weights=paths["ddp"]), state)


def test_state_without_num_batches_tracked_loads(tmp_path):
    # resnet18-f37072fd.pth (IMAGENET1K_V1) has 102 tensors: the 122 of the model less the
    # 20 num_batches_tracked buffers, which predate PyTorch 0.4
    state = {k: v for k, v in _random_state("resnet18").items()
             if not k.endswith("num_batches_tracked")}
    assert len(state) == 102
    torch.save(state, tmp_path / "resnet18-v1.pth")
    model = load_model("zoo:resnet18", weights=tmp_path / "resnet18-v1.pth")
    assert torch.equal(model.layer1[0].bn1.running_var, state["layer1.0.bn1.running_var"])
    assert int(model.layer1[0].bn1.num_batches_tracked) == 0
    del state["layer1.0.bn1.running_var"]  # any other missing tensor is still refused
    torch.save(state, tmp_path / "resnet18-v1.pth")
    with pytest.raises(ValueError, match=r"missing keys \(1\): layer1\.0\.bn1\.running_var$"):
        load_model("zoo:resnet18", weights=tmp_path / "resnet18-v1.pth")


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    state = _random_state("resnet18", seed=1)
    return state, tmp_path_factory.mktemp("bad")


@pytest.mark.parametrize("edit, match", [
    ("missing", r"state dict does not match the model: missing keys \(1\): fc\.bias$"),
    ("extra", r"state dict does not match the model: unexpected keys \(1\): fc2\.weight$"),
    ("shape", r"shape mismatches \(1\): fc\.weight \(10, 512\) vs model \(1000, 512\)$"),
])
def test_mismatched_state_dict_gives_one_line(resnet18_file, edit, match):
    state, folder = resnet18_file
    state = dict(state)
    if edit == "missing":
        del state["fc.bias"]
    elif edit == "extra":
        state["fc2.weight"] = torch.zeros(3)
    else:
        state["fc.weight"] = torch.zeros(10, 512)
    path = folder / f"{edit}.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=match) as info:
        load_model("zoo:resnet18", weights=path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


# ---------------------------------------------------------------- same function as torchvision
@pytest.mark.parametrize("name", _cheap_or_slow())
def test_reference_weights_give_identical_outputs(name):
    torch.manual_seed(11)
    ref = REFERENCE_BUILDERS[name]().eval()
    torch.manual_seed(12)  # a different init, overwritten by the reference's weights
    ours = apply_state_dict(create_arch(name), ref.state_dict()).eval()
    size = SMALL_INPUT[name]
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want, got = ref(x), ours(x)
    assert got.shape == (2, 1000)
    assert torch.equal(got, want)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_reference_weights_give_identical_outputs_at_224(name):
    torch.manual_seed(13)
    ref = REFERENCE_BUILDERS[name]().eval()
    ours = apply_state_dict(create_arch(name), ref.state_dict()).eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))


# ---------------------------------------------------------------- reverse / shadow nets
#: A deep activation point of each net and the module call that produces it.
DEEP = {"alexnet": ("features.12", lambda m, x: m.features(x)),
        "resnet18": ("layer4_1_relu_1",  # the second call of layer4.1.relu
                     lambda m, x: m.layer4(m.layer3(m.layer2(m.layer1(
                         m.maxpool(m.relu(m.bn1(m.conv1(x))))))))),
        }


@pytest.mark.parametrize("name", CHEAP)
def test_every_layer_is_reversible(name):
    torch.manual_seed(0)
    model = create_arch(name).eval()
    layers = list_layers(model, torch.randn(1, 3, 64, 64))
    assert layers and all(info.reversible for info in layers)
    assert layers[-1].shape == (1000,)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("name", CHEAP)
def test_shadow_net_encodes_and_generates_at_64(name, activation):
    torch.manual_seed(0)
    model = create_arch(name, activation=activation).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    layer, upto = DEEP[name]
    shadow = reverse(model, x[:1], layer, rho=0.5)
    with torch.no_grad():
        enc = shadow.encode(x)
        assert torch.allclose(enc.h, upto(model, x), atol=1e-5)  # the net's own activation
        out = shadow.generate(enc.h, switches=enc.switches,
                              generator=torch.Generator().manual_seed(5))
        again = shadow.generate(enc.h, switches=enc.switches,
                                generator=torch.Generator().manual_seed(5))
    assert out.shape == x.shape and bool(torch.isfinite(out).all())
    assert torch.equal(out, again)


@pytest.mark.parametrize("name", ["alexnet", "vgg11_bn", "resnet18"])
def test_torchvision_twin_gives_identical_shadows(name):
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    theirs = getattr(tv.models, name)(weights=None).eval()
    ours = apply_state_dict(create_arch(name), theirs.state_dict()).eval()
    size = max(SMALL_INPUT[name], 64)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(6))
    layer = {"alexnet": "classifier.5", "vgg11_bn": "features.28",
             "resnet18": "layer4_1_relu_1"}[name]
    shadows = [reverse(m, x[:1], layer, rho=0.5) for m in (theirs, ours)]
    with torch.no_grad():
        encs = [s.encode(x) for s in shadows]
        assert torch.equal(encs[0].h, encs[1].h)
        outs = [s.generate(e.h, switches=e.switches, generator=torch.Generator().manual_seed(7))
                for s, e in zip(shadows, encs, strict=True)]
    assert shadows[0].alphas == shadows[1].alphas
    assert torch.equal(outs[0], outs[1])
