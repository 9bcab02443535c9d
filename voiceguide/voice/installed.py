"""Which optional packages are installed, found without importing them (importing onnxruntime costs a second)."""

from __future__ import annotations

import importlib.util
from importlib import metadata


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def distribution_version(name: str) -> str:
    """The installed version of a PyPI distribution ("piper-tts"), or "?" when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"
