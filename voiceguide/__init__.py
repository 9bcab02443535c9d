"""voiceguide: routine scripts (YAML) -> narrated, timed audio sessions."""

__version__ = "0.1.0"  # before the imports below: render reads it for the files' comment tag

# The rest of the API is imported on first use (PEP 562), so importing the package stays light: the command's
# entry module (voiceguide._entry) installs its signal handlers before numpy and click are loaded.
from .lazy import lazy_names  # noqa: E402 (after __version__, see above)

_LAZY = {
    "Cancelled": "errors", "EngineError": "errors", "ParameterError": "errors", "RoutineError": "errors",
    "UsageError": "errors", "VoiceguideError": "errors",
    "Plan": "plan", "build_plan": "plan", "spoken_texts": "plan",
    "RenderResult": "pipeline", "render": "pipeline", "render_request": "pipeline", "synthesize_plan": "pipeline",
    "Cancel": "requests", "Output": "requests", "Session": "requests",
    "Routine": "routine", "load_routine": "routine", "parse_routine": "routine",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
