"""voiceguide: routine scripts (YAML) -> narrated, timed audio sessions."""

__version__ = "0.1.0"  # before the imports below: render reads it for the files' comment tag

from .errors import EngineError, RoutineError, UsageError, VoiceguideError
from .plan import Plan, build_plan, spoken_texts
from .render import RenderResult, render, synthesize_plan
from .routine import Routine, load_routine, parse_routine

__all__ = [
    "EngineError",
    "Plan",
    "RenderResult",
    "Routine",
    "RoutineError",
    "UsageError",
    "VoiceguideError",
    "__version__",
    "build_plan",
    "load_routine",
    "parse_routine",
    "render",
    "spoken_texts",
    "synthesize_plan",
]
