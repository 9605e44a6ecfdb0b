"""The report part ``alexnet`` (on request): its judge on crafted files, the ten-crop inputs,
the on-request plumbing of the report, ``--weights``, and runs of the part."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from _cli import refused, snapshot
from shadownets.audit import AuditConfig
from shadownets.cli import app
from shadownets.report import PARTS, VERDICTS, Judgement, PartOutput, reproduce
from shadownets.report.base import Context, Part, default_parts
from shadownets.report.parts import alexnet as part
from shadownets.report.parts.alexnet import (
    ALEXNET_LAYERS,
    RULE,
    SUMMARY_COLUMNS,
    AlexNetRule,
    AuditedNet,
    denormalise,
    judge,
    run_experiment,
    ten_crops,
)
from shadownets.report.runner import _selected, render_texts

RL, WORSE, BETTER, UND = ("random-like", "worse than random", "better than random",
                          "undetermined")
#: log-ratio estimates far from the band's edges (log 1.5 = 0.405), se 0.02, 9 df
_LOG_RATIO = {RL: 0.0, WORSE: 1.5, BETTER: -1.5, UND: None}


def _write(folder: Path, verdicts: dict[str, list[str]], *, weights=None, estimates=True,
           log_ratio=None) -> Path:
    """Crafted summary.csv (one row per layer; with log-ratio estimates that give each
    verdict, or only the verdict column) and setup.json."""
    rows = []
    for net, vs in verdicts.items():
        for i, v in enumerate(vs):
            row = {"net": net, "state": "random init" if weights is None else "trained",
                   "layer": f"l{i}", "name": f"conv{i + 1}", "verdict": "stale" if estimates
                   else v, "n_null": 10}
            if estimates:
                lr = log_ratio if log_ratio is not None else _LOG_RATIO[v]
                se = 5.0 if lr is None else 0.02  # undetermined: an interval wider than the band
                for k in ("gaussian", "shuffle"):
                    row |= {f"log_ratio_{k}": 0.0 if lr is None else lr,
                            f"log_ratio_se_{k}": se, f"log_ratio_df_{k}": 9}
            rows.append(row)
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)
    nets = [{"net": net, "init_seed": None if weights else 0,
             "weights": weights if net == "alexnet" and weights else "random init"}
            for net in verdicts]
    (folder / "setup.json").write_text(json.dumps({"nets": nets}))
    return folder


_TRAINED = {"path": "/models/alexnet-owt-7be5be79.pth", "sha256": "7be5be79" + "0" * 56}


def test_holds_on_random_init_says_it_checks_the_instrument(tmp_path):
    j = judge(_write(tmp_path, {"alexnet": [RL] * 6 + [UND]}), RULE)
    assert j.verdict == "holds"
    assert j.numbers["n_layers"] == 7 and j.numbers["random_like"] == pytest.approx(6 / 7)
    assert j.numbers["trained"] is False
    assert "random init" in j.evidence and "checks the instrument" in j.evidence
    assert "--weights alexnet-owt-7be5be79.pth" in j.evidence  # how to test the real claim
    assert ("6 of 7 layers shown random-like, 0 worse and 0 better than random, "
            "1 undetermined") in j.evidence


def test_does_not_hold_on_trained_weights_names_the_file(tmp_path):
    # 2 of 7 decided non-random (29% > 25%), 5 random-like (71% < 75%)
    j = judge(_write(tmp_path, {"alexnet": [WORSE, BETTER] + [RL] * 5}, weights=_TRAINED), RULE)
    assert j.verdict == "does not hold"
    assert j.numbers["trained"] is True and j.numbers["decided_nonrandom"] == pytest.approx(2 / 7)
    assert "trained weights alexnet-owt-7be5be79.pth (sha256 7be5be790000" in j.evidence
    assert "checks the instrument" not in j.evidence
    assert "conv1 worse than random" in j.evidence and "conv2 better than random" in j.evidence
    assert j.numbers["nets"]["alexnet"]["worse than random"] == 1


@pytest.mark.parametrize("verdicts", [
    [RL] * 5 + [WORSE, UND],  # 71% random-like, 14% decided
    [RL, RL, WORSE, UND],  # 50% random-like, exactly 25% decided: not more than 25%
    [UND] * 7,
])
def test_undetermined(tmp_path, verdicts):
    j = judge(_write(tmp_path, {"alexnet": verdicts}), RULE)
    assert j.verdict == "undetermined"
    assert "to_decide" in j.flip


def test_layers_of_every_net_are_pooled(tmp_path):
    # alexnet all random-like, vgg16 and resnet50 half worse: 7 + 4 of 15 random-like
    folder = _write(tmp_path, {"alexnet": [RL] * 7, "vgg16": [RL, RL, WORSE, WORSE],
                               "resnet50": [RL, RL, WORSE, WORSE]})
    j = judge(folder, RULE)
    assert j.verdict == "does not hold" and j.numbers["n_layers"] == 15
    assert j.numbers["nets"]["vgg16"]["worse than random"] == 2
    assert "resnet50, random init" in j.evidence
    assert "all 3 nets: 73% of 15 layers shown random-like, 27% worse or better" in j.evidence


def test_verdicts_are_redecided_with_the_rules_band(tmp_path):
    # log ratio 0.3 (ratio 1.35): inside [1/1.5, 1.5], above 1.2
    folder = _write(tmp_path, {"alexnet": [RL] * 4}, log_ratio=0.3)
    assert judge(folder, RULE).verdict == "holds"
    assert judge(folder, AlexNetRule(factor=1.2)).verdict == "does not hold"
    assert judge(folder, AlexNetRule(holds_share=1.01)).verdict == "undetermined"


def test_a_summary_without_estimates_keeps_its_verdicts(tmp_path):
    folder = _write(tmp_path, {"alexnet": [WORSE, WORSE, RL, RL]}, estimates=False)
    assert judge(folder, RULE).verdict == "does not hold"


def test_a_net_missing_from_setup_is_an_error(tmp_path):
    folder = _write(tmp_path, {"alexnet": [RL]})
    (folder / "setup.json").write_text(json.dumps({"nets": []}))
    with pytest.raises(ValueError, match=r"net\(s\) \['alexnet'\] not described in setup"):
        judge(folder, RULE)


def test_rule_text_states_thresholds_and_scope():
    text = RULE.text()
    assert "≥ 75%" in text and "more than 25%" in text and "Holm per net" in text
    assert "random init it checks the instrument" in text


# --- inputs -----------------------------------------------------------------------------

def _normalised(pixels: np.ndarray) -> torch.Tensor:
    """An independent oracle: (H, W, 3) uint8 -> (3, H, W) ImageNet-normalised."""
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    return torch.from_numpy(((pixels / 255.0 - mean) / std).transpose(2, 0, 1)).float()


def test_ten_crops_are_the_corners_centre_and_flips():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(20, 31, 3), dtype=np.uint8)  # shorter side 20: no resize
    x = ten_crops([image], resize=20, crop=10)
    assert x.shape == (10, 3, 10, 10) and x.dtype == torch.float32
    flipped = image[:, ::-1]
    windows = [(0, 0), (0, 21), (10, 0), (10, 21), (5, 10)]  # centre: round(10/2), round(21/2)
    for i, (top, left) in enumerate(windows):
        for j, img in ((i, image), (i + 5, flipped)):
            ref = _normalised(np.ascontiguousarray(img[top:top + 10, left:left + 10]))
            torch.testing.assert_close(x[j], ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(denormalise(x[:1])[0],
                               torch.from_numpy(image[:10, :10].transpose(2, 0, 1) / 255.0)
                               .float(), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="crop <= resize"):
        ten_crops([image], resize=20, crop=21)
    with pytest.raises(ValueError, match="uint8 RGB"):
        ten_crops([image[..., 0]], resize=20, crop=10)


def test_ten_crop_centre_is_the_standard_imagenet_input():
    from shadownets.data.photos import load_photos, photo_inputs

    photos = load_photos(["chelsea", "coffee"])
    x = ten_crops(photos.images)  # resize 256, crop 224
    assert x.shape == (20, 3, 224, 224)
    torch.testing.assert_close(x[[4, 14]], photo_inputs(["chelsea", "coffee"]))


# --- the report's plumbing: on-request parts, --weights ---------------------------------

@dataclass(frozen=True)
class _Rule:
    def text(self) -> str:
        return "holds if the file says so"


def _judge(folder: Path, rule: _Rule) -> Judgement:
    return Judgement("holds", (folder / "v.txt").read_text(), {}, "another file")


def _run(name: str, calls: list[Context] | None = None, fail: bool = False):
    def run(ctx: Context) -> PartOutput:
        if calls is not None:
            calls.append(ctx)
        if fail:
            raise KeyboardInterrupt
        (ctx.part_dir(name) / "v.txt").write_text(f"ran {name}")
        return PartOutput()
    return run


@pytest.fixture()
def fake_parts():
    saved = dict(PARTS)
    PARTS.clear()
    yield PARTS
    PARTS.clear()
    PARTS.update(saved)


def _register(name, order, *, on_request=False, **kw):
    PARTS[name] = Part(name, f"Part {name}", "a claim", _run(name, **kw), _judge, _Rule(), (),
                       order, on_request)


def test_the_real_alexnet_part_is_on_request_only():
    assert PARTS["alexnet"].on_request
    assert "alexnet" in PARTS and "alexnet" not in default_parts()
    assert _selected(None) == default_parts() and "audit" in _selected(None)
    assert _selected(["alexnet"]) == ["alexnet"]
    res = CliRunner().invoke(app, ["reproduce", "--list"])
    lines = {line.split()[0]: line for line in res.stdout.splitlines()}
    assert "[on request: --part alexnet]" in lines["alexnet"]
    assert "on request" not in lines["audit"]


def test_an_on_request_part_runs_only_when_named_and_is_not_missing(fake_parts, tmp_path):
    from shadownets.rundir import read_run

    calls: list[Context] = []
    _register("a", 1)
    _register("x", 2, on_request=True, calls=calls)
    res = reproduce(tmp_path, scale="tiny")
    assert [r.name for r in res.parts] == ["a"] and calls == []
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["parts_missing"] == [] and "Partial report" not in res.markdown.read_text()
    assert read_run(tmp_path)["status"] == "finished"
    # asked for: it runs, and the report shows both
    res = reproduce(tmp_path, scale="tiny", parts=["x"], resume=True)
    assert [r.name for r in res.parts] == ["x"] and len(calls) == 1
    md = res.markdown.read_text()
    assert "## 1. Part a" in md and "## 2. Part x" in md and "Partial report" not in md
    assert render_texts(tmp_path) == (md, res.html.read_text())
    # a default run later keeps showing it, without running it again
    res = reproduce(tmp_path, scale="tiny", resume=True)
    assert res.skipped == ["a"] and len(calls) == 1 and "## 2. Part x" in \
        res.markdown.read_text()


def test_default_parts_still_count_as_missing_beside_an_on_request_part(fake_parts,
                                                                        tmp_path):
    from shadownets.rundir import read_run

    _register("a", 1)
    _register("x", 2, on_request=True)
    res = reproduce(tmp_path, scale="tiny", parts=["x"])
    assert "**Partial report:** 1 of 2 parts. Missing: a" in res.markdown.read_text()
    assert json.loads((tmp_path / "meta.json").read_text())["parts_missing"] == ["a"]
    assert read_run(tmp_path)["status"] == "running"  # not finished: a is missing
    assert render_texts(tmp_path)[0] == res.markdown.read_text()
    reproduce(tmp_path, scale="tiny", resume=True)
    assert read_run(tmp_path)["status"] == "finished"


def test_rerendering_counts_an_on_request_part_missing_only_if_it_was(fake_parts, tmp_path):
    _register("a", 1)
    _register("x", 2, on_request=True)
    res = reproduce(tmp_path, scale="tiny")
    assert render_texts(tmp_path)[0] == res.markdown.read_text()  # x is not missing
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "parts_missing": ["x"]}))
    assert "**Partial report:** 1 of 2 parts. Missing: x" in render_texts(tmp_path)[0]


def test_weights_are_carried_and_part_of_the_claim(fake_parts, tmp_path):
    from shadownets.rundir import read_run

    calls: list[Context] = []
    _register("alexnet", 1, on_request=True, calls=calls)  # a stand-in
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"first")
    out = tmp_path / "rep"
    res = reproduce(out, scale="tiny", parts=["alexnet"], weights=weights)
    assert calls[0].weights == weights
    config = read_run(out)["config"]
    assert config["weights"] == {"path": str(weights),
                                 "sha256": hashlib.sha256(b"first").hexdigest()}
    assert f"--weights {weights} --part alexnet --force" in res.parts[0].command
    assert f"--out {out} --weights {weights} --part alexnet" in \
        json.loads((out / "meta.json").read_text())["command"]
    runner = CliRunner()
    args = ["reproduce", "--scale", "tiny", "--out", str(out), "--part", "alexnet", "--resume"]
    before = snapshot(out)
    weights.write_bytes(b"other")  # same path, other weights
    res = runner.invoke(app, [*args, "--weights", str(weights)])
    refused(res, "other settings (weights.sha256:")
    res = runner.invoke(app, args)
    refused(res, "other settings (weights.path:")
    assert snapshot(out) == before and len(calls) == 1
    weights.write_bytes(b"first")
    res = runner.invoke(app, [*args, "--weights", str(weights)])
    assert res.exit_code == 0 and "[reused] alexnet" in res.stderr


def test_reports_without_weights_keep_their_claim_settings(fake_parts, tmp_path):
    from shadownets.rundir import read_run

    _register("a", 1)
    reproduce(tmp_path, scale="tiny")
    assert read_run(tmp_path)["config"] == {"scale": "tiny", "seed": 0}


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_weights_that_are_not_a_file_are_one_error_before_anything_runs(tmp_path, kind):
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    if kind == "folder":
        path.mkdir()
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["reproduce", "--scale", "tiny", "--out", str(out),
                                   "--part", "alexnet", "--weights", str(path)])
    what = "no such file" if kind == "missing" else "is a folder, not a file"
    refused(res, f"--weights {path}: {what}")
    assert not out.exists()


def test_weights_without_the_alexnet_part_are_refused(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"w")
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["reproduce", "--scale", "tiny", "--out", str(out),
                                   "--weights", str(path)])
    refused(res, "--weights is the AlexNet of the part alexnet", "add --part alexnet")
    assert not out.exists()


# --- the experiment's pieces on a tiny stand-in -----------------------------------------

def _stand_in(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(12 * 8 * 8, 40), nn.ReLU(), nn.Linear(40, 5)).eval()


def _tiny_config(n: int) -> AuditConfig:
    return AuditConfig(n_inputs=n, n_null=2, bootstrap=20, seed=0, weight_stats=False,
                       to_input=False, n_examples=0, calibrate_inputs=n, fit_inputs=8)


def test_run_experiment_writes_what_the_judge_and_report_read(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(18, 20, 3), dtype=np.uint8) for _ in range(2)]
    x = ten_crops(images, resize=18, crop=16)
    labels = {"1": "conv1", "4": "conv2", "7": "fc6"}
    net = AuditedNet("alexnet", _stand_in(), None, 3, ("1", "4", "7"), labels)
    figures = run_experiment(tmp_path, [net], x, show=[4, 14], config=_tiny_config(20), seed=0)
    assert [f["path"] for f in figures] == ["audit.png", "alexnet.png"]
    assert all((tmp_path / f["path"]).stat().st_size > 0 for f in figures)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary.columns) == [c for c in SUMMARY_COLUMNS if c in summary.columns]
    assert list(summary["layer"].astype(str)) == ["1", "4", "7"]
    assert list(summary["name"]) == ["conv1", "conv2", "fc6"]
    assert set(summary["state"]) == {"random init"} and set(summary["n_null"]) == {2}
    assert {f"log_ratio_{k}" for k in ("gaussian", "shuffle")} <= set(summary.columns)
    setup = json.loads((tmp_path / "setup.json").read_text())
    assert setup["nets"] == [{"net": "alexnet", "weights": "random init", "init_seed": 3}]
    assert setup["audit"]["n_null"] == 2 and setup["inputs"]["n"] == 20
    shadows = pd.read_csv(tmp_path / "shadows.csv")
    assert len(shadows) == 3 and shadows["cos_mean"].between(-1, 1).all()
    j = judge(tmp_path, RULE)
    assert j.verdict in VERDICTS and j.numbers["n_layers"] == 3
    assert "random init (torchvision's initialisation, seed 3)" in j.evidence


def test_the_part_runs_through_the_report_on_a_stand_in(tmp_path, monkeypatch):
    """The registered part, end to end through ``reproduce``, with a small net for AlexNet
    and one photograph at 32×32 (the real net at scale tiny: the slow test below)."""
    scale = part.Scale(photos=("chelsea",), resize=36, crop=32, n_null=2, bootstrap=20,
                       weight_stats=False, to_input=False)
    monkeypatch.setitem(part.SCALES, "tiny", scale)
    seen: list[Context] = []

    def nets(ctx, scale):
        seen.append(ctx)
        model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(6 * 16 * 16, 30), nn.ReLU(),
                              nn.Linear(30, 4)).eval()
        return [AuditedNet("alexnet", model, None, ctx.seed, None, {})]

    monkeypatch.setattr(part, "_nets", nets)
    res = reproduce(tmp_path, scale="tiny", seed=2, parts=["alexnet"])
    assert [r.name for r in res.parts] == ["alexnet"] and seen[0].seed == 2
    r = res.parts[0]
    assert r.verdict in VERDICTS and "AlexNet at random init" in r.evidence
    assert any("correlated crops of 1 photos" in n for n in r.notes)
    assert any("Scale tiny (CI)" in n for n in r.notes)
    md = res.markdown.read_text()
    assert "The paper's experiment: AlexNet audited layer by layer" in md
    assert "(`alexnet/summary.csv`)" in md and "![" in md
    again = judge(tmp_path / "alexnet", RULE)
    assert (again.verdict, again.evidence) == (r.verdict, r.evidence)


# --- the real part at scale tiny -------------------------------------------------------

@pytest.mark.slow
def test_alexnet_part_at_scale_tiny_end_to_end(tmp_path):
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["reproduce", "--scale", "tiny", "--out", str(out),
                                   "--part", "alexnet"])
    assert res.exit_code == 0, res.output
    assert "The paper's experiment: AlexNet" in res.stdout
    folder = out / "alexnet"
    summary = pd.read_csv(folder / "summary.csv")
    assert list(summary["layer"]) == list(ALEXNET_LAYERS)
    assert list(summary["name"]) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
    setup = json.loads((folder / "setup.json").read_text())
    assert setup["nets"][0]["weights"] == "random init" and setup["inputs"]["n"] == 20
    for name in ("alexnet.png", "audit.png", "audit.csv", "shadows.csv", "result.json"):
        assert (folder / name).is_file(), name
    saved = json.loads((folder / "result.json").read_text())
    assert saved["verdict"] in VERDICTS and "checks the instrument" in saved["evidence"]
    assert "alexnet" not in json.loads((out / "meta.json").read_text())["parts_missing"]


@pytest.mark.slow
def test_alexnet_part_on_given_weights(tmp_path):
    """A state dict saved as torchvision saves one is loaded and named in the verdict."""
    from shadownets.archs import create_arch

    torch.manual_seed(5)
    path = tmp_path / "alexnet-trained.pth"
    torch.save(create_arch("alexnet").state_dict(), path)
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["reproduce", "--scale", "tiny", "--out", str(out),
                                   "--part", "alexnet", "--weights", str(path)])
    assert res.exit_code == 0, res.output
    setup = json.loads((out / "alexnet" / "setup.json").read_text())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert setup["nets"][0]["weights"] == {"path": str(path), "sha256": sha}
    saved = json.loads((out / "alexnet" / "result.json").read_text())
    assert f"trained weights alexnet-trained.pth (sha256 {sha[:12]}" in saved["evidence"]
    assert set(pd.read_csv(out / "alexnet" / "summary.csv")["state"]) == {"trained"}
