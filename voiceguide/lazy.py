"""Names a package exports but imports on first use (PEP 562), so importing the package stays light."""

from __future__ import annotations

import importlib
from typing import Callable


def lazy_names(package: str, table: dict[str, str], namespace: dict) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The package's __getattr__ and __dir__: `table` maps each name to the submodule that defines it; a name
    is imported when first asked for and then kept in the package's namespace."""

    def __getattr__(name: str):
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
