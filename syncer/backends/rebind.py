"""Swap one MLflow function for ours in every MLflow module that holds it by name."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType


def rebind(home: ModuleType, name: str, original: Callable, replacement: Callable) -> None:
    """Set `home.<name>` to `replacement` (modules imported later bind that one) and every loaded
    MLflow module that imported `original` by that name; once per process (a second call does
    nothing)."""
    if getattr(home, name) is replacement:
        return
    setattr(home, name, replacement)
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("mlflow") and getattr(module, name, None) is original:
            setattr(module, name, replacement)
