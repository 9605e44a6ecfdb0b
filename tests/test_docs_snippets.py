"""Every ```python block of README.md and docs/*.md runs, so the documentation cannot drift.

A snippet may use the stand-ins ``model`` (a small LeNet on 8×8 digits whose layer names are
those the README uses), ``x`` / ``x_real`` / ``x_calib`` (digit images), ``y`` (labels), ``g``
(a seeded generator), ``F`` (``torch.nn.functional``) and ``torch``. Each block runs in a fresh
interpreter, so import order is the snippet's own (the public-API regression of issue 9:
``from shadownets import reverse`` after a subpackage import must still be the function).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_PRELUDE = """
import torch
import torch.nn.functional as F
torch.manual_seed(0)
from shadownets.data import load_dataset
_data = load_dataset("digits", seed=0)
from shadownets.train import create_model
model = create_model("lenet", _data.input_shape, _data.num_classes).eval()
x = _data.x_test[:32]
x_real = _data.x_test[:64]
x_calib = _data.x_train[:64]
y = _data.y_test[:32]
g = torch.Generator().manual_seed(0)
"""


def snippets() -> list[tuple[str, str]]:
    """(id, code) of every python block in the documentation."""
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for i, m in enumerate(re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)):
            out.append((f"{path.relative_to(ROOT)}#{i + 1}", m.group(1)))
    return out


def test_the_docs_have_python_snippets():
    assert len(snippets()) >= 4


@pytest.mark.parametrize(("name", "code"), snippets(), ids=[n for n, _ in snippets()])
def test_snippet_runs(name, code, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(code if "# no-prelude" in code else _PRELUDE + code, encoding="utf-8")
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600, env={"OMP_NUM_THREADS": "1",
                                                      "PATH": "/usr/bin:/bin",
                                                      "MPLBACKEND": "Agg"})
    assert res.returncode == 0, f"{name} failed:\n{code}\n--- stderr ---\n{res.stderr[-3000:]}"


@pytest.mark.parametrize("first", ["function", "subpackage"])
def test_public_functions_in_either_import_order(first, tmp_path):
    order = {
        "function": "from shadownets import audit, reverse\n"
                    "import shadownets.audit.core, shadownets.reverse.graph\n",
        "subpackage": "import shadownets.audit.core, shadownets.reverse.graph\n"
                      "from shadownets.audit import AuditConfig\n"
                      "from shadownets import audit, reverse\n",
    }[first]
    code = order + (
        "import shadownets, types\n"
        "assert isinstance(audit, types.FunctionType) and isinstance(reverse, types.FunctionType)\n"
        "assert shadownets.audit is audit and shadownets.reverse is reverse\n"
        "import torch\n"
        "nn = torch.nn\n"
        "net = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3))\n"
        "x = torch.randn(8, 6)\n"
        "s = reverse(net, x[:1], layer='1')\n"
        "assert s.generate(s.encode(x).h).shape == x.shape\n")
    script = tmp_path / "order.py"
    script.write_text(code, encoding="utf-8")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
