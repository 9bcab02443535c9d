"""The Kokoro engine: Kokoro-82M (ONNX, from PyPI wheels) with our own Korean, English and Japanese front ends."""
