"""``shadownets reproduce``: every claim of the paper, one command, one report.

Parts (``shadownets.report.parts``, one claim a module) register themselves in :data:`PARTS`
(report order) with their verdict rule and judge; :func:`reproduce` runs them, reusing finished
ones, and writes ``report.md`` and a self-contained ``report.html``.
"""

from shadownets.report import parts  # noqa: F401  (register the parts)
from shadownets.report.base import (
    PARTS,
    SCALES,
    VERDICTS,
    Context,
    Judgement,
    PartOutput,
    PartResult,
)
from shadownets.report.render import format_value, write_report
from shadownets.report.runner import ReportResult, environment, reproduce

__all__ = ["PARTS", "SCALES", "VERDICTS", "Context", "Judgement", "PartOutput", "PartResult",
           "ReportResult", "environment", "format_value", "reproduce", "write_report"]
