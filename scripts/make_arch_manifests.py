"""Write the key / shape manifests of torchvision's state dicts: src/shadownets/archs/manifests.

For each of alexnet, vgg11_bn, vgg16, resnet18 and resnet50 this builds the independent
reference transcription of torchvision's class in ``tests/_torchvision_reference.py`` (on the
meta device: no memory, no random numbers), checks its parameter count against torchvision's
documented ``meta["num_params"]`` of the IMAGENET1K_V1 weights, and writes
``manifests/NAME.json``::

    {"name": ..., "source": ..., "num_params": int, "num_tensors": int,
     "state_dict": {key: shape, ...}}    # keys in torchvision's state_dict() order

The manifests are never produced from ``shadownets.archs`` itself (that would make the
key / shape test circular). When torchvision is importable, pass ``--check-torchvision`` to
compare the reference against ``torchvision.models.NAME()`` too.

Usage::

    .venv/bin/python scripts/make_arch_manifests.py [--check] [--check-torchvision]

``--check`` writes nothing and exits 1 when a stored manifest differs from the reference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "shadownets" / "archs" / "manifests"
sys.path.insert(0, str(ROOT / "tests"))

from _torchvision_reference import DOCUMENTED_NUM_PARAMS, REFERENCE_BUILDERS  # noqa: E402

SOURCE = ("pytorch/vision torchvision/models/{file}.py ({name}(), v0.13+ layout); "
          "num_params as documented in its IMAGENET1K_V1 weights")
FILES = {"alexnet": "alexnet", "vgg11_bn": "vgg", "vgg16": "vgg", "resnet18": "resnet",
         "resnet50": "resnet"}


def manifest_of(model: torch.nn.Module, name: str) -> dict:
    """The manifest dict of ``model`` (its state_dict order, shapes as lists)."""
    state = model.state_dict()
    num_params = sum(p.numel() for p in model.parameters())
    return {"name": name, "source": SOURCE.format(file=FILES[name], name=name),
            "num_params": num_params, "num_tensors": len(state),
            "state_dict": {k: list(v.shape) for k, v in state.items()}}


def to_json(manifest: dict) -> str:
    """JSON text with one state-dict entry per line (diff-friendly)."""
    head = {k: v for k, v in manifest.items() if k != "state_dict"}
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    entries = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in manifest["state_dict"].items()]
    return "{\n" + "\n".join(lines) + '\n  "state_dict": {\n' + ",\n".join(entries) + "\n  }\n}\n"


def reference_manifest(name: str) -> dict:
    """Build the reference net on the meta device and check its documented parameter count."""
    with torch.device("meta"):
        model = REFERENCE_BUILDERS[name]()
    manifest = manifest_of(model, name)
    if manifest["num_params"] != DOCUMENTED_NUM_PARAMS[name]:
        raise SystemExit(f"{name}: the reference has {manifest['num_params']:,} parameters, "
                         f"torchvision documents {DOCUMENTED_NUM_PARAMS[name]:,}")
    return manifest


def check_torchvision(name: str, manifest: dict) -> None:
    import torchvision.models as models

    with torch.device("meta"):
        theirs = manifest_of(getattr(models, name)(weights=None), name)
    if theirs["state_dict"] != manifest["state_dict"]:
        raise SystemExit(f"{name}: torchvision's state dict differs from the reference")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the stored manifests, write nothing")
    parser.add_argument("--check-torchvision", action="store_true",
                        help="also compare the reference with torchvision.models")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name in REFERENCE_BUILDERS:
        manifest = reference_manifest(name)
        if args.check_torchvision:
            check_torchvision(name, manifest)
        path = OUT / f"{name}.json"
        text = to_json(manifest)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.write_text(text, encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {manifest['num_tensors']} tensors, "
              f"{manifest['num_params']:,} parameters")
    if stale:
        print(f"stale manifests: {', '.join(stale)}; run scripts/make_arch_manifests.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
