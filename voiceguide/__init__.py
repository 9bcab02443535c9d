"""voiceguide: routine scripts (YAML) -> narrated, timed audio sessions."""

__version__ = "0.1.0"  # before the imports below: render reads it for the files' comment tag

import sys as _sys
import types as _types

# The rest of the API is imported on first use (PEP 562), so importing the package stays light: the command's
# entry module (voiceguide._entry) installs its signal handlers before numpy and click are loaded.
_LAZY = {
    "EngineError": "errors", "RoutineError": "errors", "UsageError": "errors", "VoiceguideError": "errors",
    "Plan": "plan", "build_plan": "plan", "spoken_texts": "plan",
    "RenderResult": "render", "render": "render", "synthesize_plan": "render",
    "Routine": "routine", "load_routine": "routine", "parse_routine": "routine",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'voiceguide' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(_types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # Importing the submodule voiceguide.render binds it here; `voiceguide.render` stays the function.
        if name in _LAZY and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
