"""The public socket API layer: the only code that builds or changes a ``Socket``."""
