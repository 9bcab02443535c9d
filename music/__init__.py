"""Built-in background tracks, shipped as package data (see README.md here)."""
