"""The report's parts, one claim a module; importing this package registers them all.

Each module declares its verdict rule (a frozen dataclass of thresholds, ``RULE``), a pure
``judge(folder, rule)`` that reads only the part's files, and the experiment that writes them.
"""

from shadownets.report.parts import (  # noqa: F401  (register the parts)
    alexnet,
    audit,
    baselines,
    bias,
    depth,
    identities,
    leakage,
    shadows,
    sparse,
    theorem,
    training,
    tying,
)
