"""Find an espeak-ng library for pyttsx3 on Linux: the system one, else the espeakng-loader wheel."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from importlib import metadata


def _system_library() -> str | None:
    return ctypes.util.find_library("espeak-ng")


def library_identity() -> str:
    """Which espeak-ng build a worker will load, without loading it (for the clip cache key)."""
    if not sys.platform.startswith("linux"):
        return sys.platform
    system = _system_library()
    if system:
        return f"system:{os.path.realpath(system) if os.path.isabs(system) else system}"
    try:
        return f"espeakng-loader:{metadata.version('espeakng-loader')}"
    except metadata.PackageNotFoundError:
        return "none"


def prepare() -> None:
    """Make `libespeak-ng.so.1` loadable in this process before pyttsx3 imports its driver.

    pyttsx3 dlopens the library by SONAME, so a copy already loaded from the wheel is reused. The wheel's
    data path must be set first: without voice data espeak calls exit(1) and takes the process with it.
    """
    if not sys.platform.startswith("linux") or _system_library():
        return
    try:
        import espeakng_loader
    except ImportError:
        return
    os.environ.setdefault("ESPEAK_DATA_PATH", espeakng_loader.get_data_path())
    ctypes.CDLL(espeakng_loader.get_library_path(), mode=ctypes.RTLD_GLOBAL)


def install_hint() -> str:
    if sys.platform.startswith("linux"):
        return "reinstall voiceguide with pip (it brings espeakng-loader), or install espeak-ng (apt-get install espeak-ng)"
    if sys.platform == "darwin":
        return "macOS speech (NSSpeechSynthesizer) should be available; reinstall pyttsx3 with pip"
    return "Windows speech (SAPI5) should be available; reinstall pyttsx3 and pywin32 with pip"
