"""``python -m ztu_somemodelruntime_ez_rknn_async`` is the ``ez-rknn`` command."""
from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
