"""Part (on request): the paper's experiment — AlexNet audited layer by layer against its null
nets, and its shadows from conv1…conv5, fc6 and fc7 on real photographs.

The net is torchvision's AlexNet layout (:mod:`shadownets.archs`), with torchvision's random
initialisation (seeded) unless the report is given trained weights (``--weights FILE``, e.g.
torchvision's ``alexnet-owt-7be5be79.pth``). The inputs are the bundled photographs
(:mod:`shadownets.data.photos`) expanded by the standard ten-crop. At scale ``full`` VGG-16 and
ResNet-50 (random init) are audited too.

Files written under ``alexnet/``: ``audit.csv`` (the audit's full table), ``summary.csv``
(columns :data:`SUMMARY_COLUMNS`, what :func:`judge` reads), ``setup.json`` (which weights
each net had, the inputs and the audit settings; read by :func:`judge`), ``shadows.csv``
(cosine of shadow and input per layer), ``audit.png`` and one shadow grid ``NET.png`` per net.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from shadownets.audit import AuditConfig
from shadownets.io import save_dataframe_csv, save_json
from shadownets.report.base import (
    Context,
    Judgement,
    PartOutput,
    register_part,
    weights_record,
)
from shadownets.report.parts.audit import SUMMARY_COLUMNS as _AUDIT_COLUMNS
from shadownets.report.parts.audit import _redecide
from shadownets.report.parts.audit import refresh as _refresh_summary
from shadownets.report.plots import plot_audit_ratios, plot_shadow_rows

__all__ = ["AlexNetRule", "RULE", "judge", "SUMMARY_COLUMNS", "ALEXNET_LAYERS", "Scale",
           "SCALES", "AuditedNet", "ten_crops", "denormalise", "run_experiment",
           "TORCHVISION_WEIGHTS_URL"]

#: ReLU outputs of torchvision's AlexNet, bottom to top, with the paper's names.
ALEXNET_LAYERS: dict[str, str] = {
    "features.1": "conv1", "features.4": "conv2", "features.7": "conv3", "features.9": "conv4",
    "features.11": "conv5", "classifier.2": "fc6", "classifier.5": "fc7"}

#: Where torchvision's ImageNet AlexNet weights are published (``AlexNet_Weights.IMAGENET1K_V1``).
TORCHVISION_WEIGHTS_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"

#: Columns of ``summary.csv``: the audit part's, with the paper's layer name after ``layer``.
SUMMARY_COLUMNS = [c for col in _AUDIT_COLUMNS
                   for c in ((col, "name") if col == "layer" else (col,))]

_NON_RANDOM = ("worse than random", "better than random")
_OUTCOMES = ("random-like", *_NON_RANDOM, "undetermined")


@dataclass(frozen=True)
class AlexNetRule:
    """Thresholds on the audit's per-layer verdicts (:mod:`shadownets.audit.verdict`), each
    decided again from the saved log-ratio estimates with this band and significance (one Holm
    family per net, as the audit does). The shares pool every audited layer of every net."""

    factor: float = 1.5  # the audit's band [1/factor, factor] for the error ratio
    significance: float = 0.05  # the audit's family-wise error rate per net (Holm)
    holds_share: float = 0.75  # layers shown random-like for "holds"
    refute_share: float = 0.25  # layers shown worse/better than random: more than this refutes

    def text(self) -> str:
        return (f"each layer (ReLU output) is audited against Gaussian and shuffled null nets "
                f"of the same architecture (error ratio tested against [1/{self.factor}, "
                f"{self.factor}], Holm per net at α = {self.significance}). Holds if ≥ "
                f"{self.holds_share:.0%} of the audited layers are shown random-like; does not "
                f"hold if more than {self.refute_share:.0%} are shown worse or better than "
                f"random; undetermined otherwise. The verdict is about the weights named in "
                f"its evidence: on random init it checks the instrument, not the paper's claim "
                f"about a trained AlexNet.")


RULE = AlexNetRule()


def _weights_text(net: dict[str, Any]) -> str:
    w = net.get("weights")
    if not isinstance(w, dict):
        seed = net.get("init_seed")
        return f"random init (torchvision's initialisation, seed {seed})"
    return f"trained weights {Path(w['path']).name} (sha256 {str(w['sha256'])[:12]}…)"


def judge(folder: Path, rule: AlexNetRule = RULE) -> Judgement:
    """Apply ``rule`` to ``folder/summary.csv`` (columns :data:`SUMMARY_COLUMNS`; each
    layer's verdict decided again from its ``log_ratio_*`` estimates, or its ``verdict`` kept
    when they are absent) and ``folder/setup.json`` (``{"nets": [{"net", "weights",
    "init_seed"}, ...]}``, ``weights`` ``{"path", "sha256"}`` or ``"random init"``)."""
    folder = Path(folder)
    setup = json.loads((folder / "setup.json").read_text(encoding="utf-8"))
    nets = {n["net"]: n for n in setup["nets"]}
    df = pd.read_csv(folder / "summary.csv")
    unknown = sorted(set(df["net"]) - set(nets))
    if unknown:
        raise ValueError(f"{folder}/summary.csv: net(s) {unknown} not described in setup.json")
    df = _redecide(df, rule)
    per_net, parts = {}, []
    for name, net in nets.items():
        rows = df[df["net"] == name]
        counts = {o: int((rows["verdict"] == o).sum()) for o in _OUTCOMES}
        odd = rows[rows["verdict"].isin(_NON_RANDOM)]
        names = rows["name"] if "name" in rows else rows["layer"]
        listed = ", ".join(f"{n} {v}" for n, v in zip(names[odd.index], odd["verdict"],
                                                      strict=True))
        per_net[name] = {"weights": _weights_text(net), "n_layers": len(rows), **counts}
        parts.append(f"{name}, {_weights_text(net)}: {counts['random-like']} of {len(rows)} "
                     f"layers shown random-like, {counts['worse than random']} worse and "
                     f"{counts['better than random']} better than random"
                     + (f" ({listed})" if listed else "")
                     + f", {counts['undetermined']} undetermined")
    n = len(df)
    rl = float((df["verdict"] == "random-like").mean()) if n else 0.0
    dec = float(df["verdict"].isin(_NON_RANDOM).mean()) if n else 0.0
    alex = nets.get("alexnet", {})
    trained = isinstance(alex.get("weights"), dict)
    if trained:
        scope = (f"AlexNet with {_weights_text(alex)}: the paper's claim about a trained "
                 "AlexNet is tested.")
    else:
        scope = ("AlexNet at random init: this checks the instrument on a random AlexNet, not "
                 "the paper's claim about a trained one (for that, run `shadownets reproduce "
                 "--part alexnet --weights alexnet-owt-7be5be79.pth`, torchvision's ImageNet "
                 f"weights from {TORCHVISION_WEIGHTS_URL}).")
    if n and rl >= rule.holds_share:
        verdict = "holds"
        flip = (f"layers shown worse or better than random (more than {rule.refute_share:.0%} "
                "of them would refute it)" + ("." if trained else "; on trained weights the "
                                                  "verdict is about the paper's claim and may "
                                                  "differ."))
    elif n and dec > rule.refute_share:
        verdict = "does not hold"
        flip = ("the decided layers' intervals reaching the band (a wider band or another null "
                "would change it)" + ("." if trained else "; on a random net this is a false "
                                      "alarm of the instrument, so fix the audit first."))
    else:
        verdict = "undetermined"
        flip = (f"layers decided one way: random-like at ≥ {rule.holds_share:.0%} of them, or "
                f"worse/better at more than {rule.refute_share:.0%} (more null nets or inputs "
                "narrow the intervals: see to_decide / inputs_to_decide in summary.csv, inf = "
                "no number would at this band).")
    pooled = (f"; all {len(nets)} nets: {rl:.0%} of {n} layers shown random-like, {dec:.0%} "
              "worse or better than random" if len(nets) > 1 else "")
    return Judgement(
        verdict=verdict,
        evidence=f"{scope} " + "; ".join(parts) + pooled + ".",
        numbers={"trained": trained, "weights": alex.get("weights", "random init"),
                 "n_layers": n, "random_like": rl, "decided_nonrandom": dec, "nets": per_net},
        flip=flip,
    )


@dataclass(frozen=True)
class Scale:
    """The experiment's size at one report scale."""

    photos: tuple[str, ...]  # bundled photographs (shadownets.data.photos), ten crops each
    resize: int  # shorter side before cropping
    crop: int  # side of the square crops (the nets' input size)
    n_null: int  # null nets per kind
    bootstrap: int  # bootstrap replicates of the audit's intervals
    weight_stats: bool  # the audit's weight statistics (spectra, incoherence, RIP)
    to_input: bool  # the audit's all-the-way-down setting
    nets: tuple[str, ...] = ("alexnet",)  # architectures audited (shadownets.archs)


#: The experiment per report scale ("tiny": CI on 2 cores; "quick" and "full": 224 x 224).
SCALES: dict[str, Scale] = {
    "tiny": Scale(photos=("astronaut", "chelsea"), resize=73, crop=64, n_null=2, bootstrap=50,
                  weight_stats=False, to_input=False),
    "quick": Scale(photos=("astronaut", "chelsea", "coffee", "motorcycle", "rocket"),
                   resize=256, crop=224, n_null=5, bootstrap=1000, weight_stats=True,
                   to_input=False),
    "full": Scale(photos=("astronaut", "chelsea", "coffee", "motorcycle", "rocket"),
                  resize=256, crop=224, n_null=10, bootstrap=2000, weight_stats=True,
                  to_input=True, nets=("alexnet", "vgg16", "resnet50")),
}


def _imagenet_stats() -> tuple[torch.Tensor, torch.Tensor]:
    from shadownets.data.presets import get_preset

    return get_preset("imagenet").normalisation(3)  # each of shape (3, 1, 1)


def ten_crops(images: Sequence[np.ndarray], *, resize: int = 256, crop: int = 224) -> torch.Tensor:
    """The standard ten-crop of each image, normalised with the ImageNet mean and std.

    As torchvision's ``Resize(resize)`` then ``TenCrop(crop)``: the shorter side is resized to
    ``resize`` (:func:`shadownets.data.presets.resize_shorter`), then the top-left, top-right,
    bottom-left, bottom-right and centre ``crop`` squares are cut from the image and from its
    horizontal flip.

    Parameters
    ----------
    images : sequence of uint8 arrays of shape (H_i, W_i, 3)
    resize, crop : int
        ``crop <= resize``.

    Returns
    -------
    Tensor of shape (10 * len(images), 3, crop, crop), float32
        Image ``i``'s crops at rows ``10 i … 10 i + 9`` (its centre crop at ``10 i + 4``).
    """
    from shadownets.data.presets import center_crop, resize_shorter

    if not 0 < crop <= resize:
        raise ValueError(f"crop: expected 0 < crop <= resize = {resize}, got {crop}")
    mean, std = _imagenet_stats()
    out = []
    for image in images:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"images: expected uint8 RGB arrays (H, W, 3), got {image.dtype} "
                             f"{image.shape}")
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
        x = resize_shorter(x, resize)  # (3, H', W'), shorter side = resize
        for view in (x, x.flip(-1)):
            h, w = int(view.shape[-2]), int(view.shape[-1])
            for top, left in ((0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop)):
                out.append(view[:, top:top + crop, left:left + crop])
            out.append(center_crop(view, (crop, crop)))
    return ((torch.stack(out) - mean) / std).contiguous()


def denormalise(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised images (n, 3, H, W) back to pixels in [0, 1] (clipped)."""
    mean, std = _imagenet_stats()
    return (x.detach().float().cpu() * std + mean).clamp(0.0, 1.0)


@dataclass(frozen=True, eq=False)
class AuditedNet:
    """One net of the experiment and where its weights came from."""

    name: str
    model: nn.Module  # in eval mode
    weights: dict[str, str] | None = None  # {"path", "sha256"}; None: random init
    init_seed: int | None = None  # seed of the random init (None when trained)
    layers: tuple[str, ...] | None = None  # activation points audited; None: all auditable
    labels: dict[str, str] = field(default_factory=dict)  # layer -> display name (conv1, …)


def _random_init(name: str, seed: int) -> nn.Module:
    """``create_arch(name)`` with torchvision's initialisation drawn under ``seed`` (the
    global generator is left as it was)."""
    from shadownets.archs import create_arch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_arch(name).eval()


def _nets(ctx: Context, scale: Scale) -> list[AuditedNet]:
    from shadownets.specs import load_model

    nets = []
    for i, name in enumerate(scale.nets):
        layers = tuple(ALEXNET_LAYERS) if name == "alexnet" else None
        labels = dict(ALEXNET_LAYERS) if name == "alexnet" else {}
        if name == "alexnet" and ctx.weights is not None:
            model = load_model("zoo:alexnet", weights=ctx.weights)
            nets.append(AuditedNet(name, model, weights_record(ctx.weights), None, layers,
                                   labels))
        else:
            seed = ctx.seed + i
            nets.append(AuditedNet(name, _random_init(name, seed), None, seed, layers, labels))
    return nets


def _cosine(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-row cosine of a and b, shape (batch,)."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)).numpy()


def run_experiment(folder: Path, nets: Sequence[AuditedNet], x: torch.Tensor, *,
                   show: Sequence[int], config: AuditConfig, seed: int = 0,
                   inputs: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Audit each net on ``x`` and draw its shadows; write the part's files into ``folder``.

    Parameters
    ----------
    folder : Path
    nets : sequence of AuditedNet
    x : Tensor of shape (n, 3, H, W)
        ImageNet-normalised inputs (also the shadows' calibration batch).
    show : sequence of int
        Rows of ``x`` shown in the shadow grids.
    config : AuditConfig
        One audit call (one Holm family) per net.
    seed : int
        Seed of the shadows' dropout masks and unpooling.
    inputs : dict, optional
        Description of the inputs, saved in ``setup.json``.

    Returns
    -------
    list of dict
        The figures written, ``{"title", "path"}`` (paths relative to ``folder``).
    """
    from shadownets.audit import audit
    from shadownets.reverse.samples import shadow_samples

    folder = Path(folder)
    frames, cosines, figures = [], [], []
    for net in nets:
        state = "random init" if net.weights is None else "trained"
        table = audit(net.model, x, layers=list(net.layers) if net.layers else None,
                      config=config)  # one Holm family per net
        table.insert(0, "state", state)
        table.insert(0, "net", net.name)
        table.insert(table.columns.get_loc("layer") + 1, "name",
                     [net.labels.get(layer, layer) for layer in table["layer"]])
        table["n_null"] = config.n_null
        frames.append(table)
        grid = [("original", denormalise(x[list(show)]))]
        for layer in table["layer"]:
            s = shadow_samples(net.model, x, layer, alpha="calibrated", rho=1.0, seed=seed)
            cos = _cosine(s.shadows, x)
            cosines.append({"net": net.name, "layer": layer,
                            "name": net.labels.get(layer, layer), "cos_mean": float(cos.mean()),
                            "cos_min": float(cos.min()), "cos_max": float(cos.max())})
            label = net.labels.get(layer)
            grid.append((f"{label}\n{layer}" if label else layer,
                         denormalise(s.shadows[list(show)])))
        path = f"{net.name}.png"
        plot_shadow_rows(grid, folder / path, f"{net.name} ({state}): photographs and their "
                                              "shadows from each layer", clip=True)
        figures.append({"title": f"{net.name} ({state}): the centre crops (top row) and their "
                                 "shadows from each audited layer (α calibrated, no dropout; "
                                 "de-normalised, clipped to [0, 1])", "path": path})
    df = pd.concat(frames, ignore_index=True)
    save_dataframe_csv(folder / "audit.csv", df)
    save_dataframe_csv(folder / "summary.csv", df[[c for c in SUMMARY_COLUMNS if c in df]])
    save_dataframe_csv(folder / "shadows.csv", pd.DataFrame(cosines))
    save_json(folder / "setup.json", {
        "nets": [{"net": n.name, "weights": n.weights or "random init",
                  "init_seed": n.init_seed} for n in nets],
        "inputs": inputs or {"n": int(x.shape[0]), "shape": list(x.shape[1:])},
        "audit": {"n_inputs": config.n_inputs, "n_null": config.n_null,
                  "null_kinds": list(config.null_kinds), "bootstrap": config.bootstrap,
                  "factor": config.factor, "significance": config.significance,
                  "weight_stats": config.weight_stats, "to_input": config.to_input,
                  "seed": config.seed}})
    plot_audit_ratios(df, folder / "audit.png", factor=config.factor)
    return [{"title": "Error ratio against Gaussian null nets, per layer (95% prediction "
                      "intervals; shaded: the random-like band)", "path": "audit.png"},
            *figures]


@register_part(
    "alexnet", "The paper's experiment: AlexNet audited layer by layer, and its shadows",
    order=100, rule=RULE, judge=judge, on_request=True, refresh=_refresh_summary,
    claim="AlexNet is random-like (the paper's experiment on a real-life net): each layer, run "
          "backwards and forwards again, recovers its hidden code about as well as random "
          "nets of the same architecture do; its shadows from conv1…conv5 and fc6/fc7 show "
          "what each layer keeps of a photograph.")
def alexnet_part(ctx: Context) -> PartOutput:
    from shadownets.data.photos import load_photos

    folder = ctx.part_dir("alexnet")
    scale = SCALES[ctx.scale]
    photos = load_photos(scale.photos)
    x = ten_crops(photos.images, resize=scale.resize, crop=scale.crop)
    n = int(x.shape[0])
    cfg = AuditConfig(n_inputs=n, n_null=scale.n_null, bootstrap=scale.bootstrap, seed=ctx.seed,
                      weight_stats=scale.weight_stats, to_input=scale.to_input,
                      factor=RULE.factor, significance=RULE.significance, n_examples=0,
                      calibrate_inputs=min(128, n), fit_inputs=min(16, n))
    nets = _nets(ctx, scale)
    inputs = {"photos": list(photos.names), "resize": scale.resize, "crop": scale.crop,
              "crops_per_photo": 10, "n": n, "shape": list(x.shape[1:])}
    figures = run_experiment(folder, nets, x, show=[10 * i + 4 for i in range(len(photos.names))],
                             config=cfg, seed=ctx.seed, inputs=inputs)
    alex = nets[0]
    how = (f"trained weights {ctx.weights} (sha256 {alex.weights['sha256']})" if alex.weights
           else f"torchvision's random initialisation, seed {alex.init_seed}: the instrument "
                "checked on a random AlexNet, not the paper's trained one. For that, download "
                f"torchvision's ImageNet weights ({TORCHVISION_WEIGHTS_URL}, 233 MB) and run "
                "`shadownets reproduce --part alexnet --weights alexnet-owt-7be5be79.pth`")
    notes = [f"AlexNet (torchvision's layout): {how}.",
             f"Inputs: {n} crops of {scale.crop}×{scale.crop} — the standard ten-crop (shorter "
             f"side resized to {scale.resize}; four corners and the centre, and their "
             f"horizontal flips) of {len(photos.names)} photographs bundled with scikit-image "
             f"({', '.join(photos.names)}). They are correlated crops of "
             f"{len(photos.names)} photos, not {n} independent images; normalised with the "
             "ImageNet mean and std.",
             f"Audit: {cfg.n_null} Gaussian and {cfg.n_null} shuffled null nets, "
             f"{cfg.bootstrap} bootstrap replicates, one Holm family per net. Full table: "
             "alexnet/audit.csv; cosines of shadows and inputs: alexnet/shadows.csv; weights "
             "and settings: alexnet/setup.json."]
    if len(nets) > 1:
        notes.append(f"Also audited at random init (torchvision's initialisation): "
                     f"{', '.join(n.name for n in nets[1:])}.")
    if ctx.scale == "tiny":
        notes.append(f"Scale tiny (CI): {len(photos.names)} photographs, {scale.crop}×"
                     f"{scale.crop} crops, {cfg.n_null} null nets per kind, no weight "
                     "statistics and no all-the-way-down setting — a smoke test, not the "
                     "experiment; use --scale quick (224×224, 50 inputs, 5+5 null nets).")
    return PartOutput(
        tables=[{"title": "Audit per layer: error one layer down, ratio to Gaussian and "
                          "shuffled null nets (ci_lo/ci_hi: 95% confidence interval of the "
                          "ratio to the typical null net, which random-like is judged on; "
                          "lo/hi: 95% prediction interval, which worse/better than random is "
                          "judged on), verdicts, what would decide", "path": "summary.csv"},
                {"title": "Cosine of shadow and input per layer (all inputs)",
                 "path": "shadows.csv"}],
        figures=figures, notes=notes)
