"""Render a report's HTML in headless Chromium, check that every figure loaded, screenshot it.

    python scripts/check_report_html.py runs/demo/report.html [--screenshot report.png]

Needs Debian's ``chromium`` (``apt-get install chromium``); not part of CI. Prints
``figures loaded: N of M`` and exits non-zero unless every figure decoded (N == M > 0).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# appended to a copy of the page: counts images that decoded (naturalWidth > 0) after load
_PROBE = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const p = document.createElement('pre'); p.id = 'figure-check';
  p.textContent = `figures loaded: ${ok} of ${imgs.length}`;
  document.body.appendChild(p);
});</script>"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    if not args.html.is_file():
        print(f"error: no such file: {args.html}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(args.html.read_text(encoding="utf-8").replace(
            "</body>", _PROBE + "</body>"), encoding="utf-8")
        profile = ["--user-data-dir=" + str(Path(tmp) / "profile")]
        dom = subprocess.run([args.chromium, *_FLAGS, *profile, "--virtual-time-budget=10000",
                              "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                             timeout=120)
        found = re.search(r"figures loaded: (\d+) of (\d+)", dom.stdout)
        if args.screenshot is not None:
            subprocess.run([args.chromium, *_FLAGS, *profile, "--window-size=1200,4000",
                            "--hide-scrollbars", f"--screenshot={args.screenshot.resolve()}",
                            args.html.resolve().as_uri()], capture_output=True, timeout=120,
                           check=True)
            print(f"screenshot: {args.screenshot}")
    if not found:
        print("error: the page did not report its figures (did Chromium run?)", file=sys.stderr)
        return 1
    ok, total = int(found.group(1)), int(found.group(2))
    print(f"figures loaded: {ok} of {total}")
    return 0 if ok == total > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
