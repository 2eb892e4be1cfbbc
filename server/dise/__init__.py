"""DiSE: writes Python functions with a local model, tests them, and keeps improving them."""

__version__ = "0.1.0"
