"""Load Vitals from a chosen checkout, for benchmarks that measure two trees on one site.

``bench/answer_cpu.py`` and ``bench/hit_cpu.py`` take ``--code-tree``: the same requests
over the same data, answered by another checkout's code (a ``git worktree`` of the
starting commit), for a ratio in one session. ``api_load`` (whose workload they reuse)
puts this checkout first on ``sys.path`` and imports part of ``vitals`` from it, so
without the swap below ``--code-tree`` silently measured this checkout again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def point_at_site(data_dir: Path) -> None:
    """The stores of ``data_dir`` (a ``bench/query.py`` or ``api_load.py`` site) as settings."""
    os.environ.update(
        VITALS_DATA_DIR=str(data_dir),
        VITALS_HOT_STORE=str(data_dir / "hot.sqlite"),
        VITALS_COLD_STORE=str(data_dir / "cold"),
    )
    if str(HERE / "bench") not in sys.path:
        sys.path.insert(0, str(HERE / "bench"))


def load_vitals_from(code_tree: Path) -> Path:
    """Make ``import vitals`` load ``code_tree``'s package; refuses if it comes from elsewhere."""
    tree = str(code_tree.resolve())
    while tree in sys.path:
        sys.path.remove(tree)
    sys.path.insert(0, tree)
    for name in [m for m in sys.modules if m == "vitals" or m.startswith("vitals.")]:
        del sys.modules[name]
    import vitals

    loaded = Path(vitals.__file__).resolve().parent.parent
    if loaded != code_tree.resolve():
        raise SystemExit(f"vitals came from {loaded}, not --code-tree {code_tree}")
    print(f"code: {loaded}", flush=True)
    return loaded
