"""Output formats (one table: encoder, tag writer, session writer, capabilities) and how outputs are written:
checked before any work, then atomically."""

from __future__ import annotations

from .encoders import Encoder, encode_blocks
from .files import WRITE_FAILURES, atomic_output, check_output_path
from .formats import ENCODERS, FORMATS, OutputFormat, open_encoder, output_format

__all__ = [
    "ENCODERS", "FORMATS", "WRITE_FAILURES", "Encoder", "OutputFormat", "atomic_output", "check_output_path",
    "encode_blocks", "open_encoder", "output_format",
]
