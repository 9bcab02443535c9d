"""The routine format reference, shipped with the package (`voiceguide docs` prints it)."""
