"""The package's version, declared once (pyproject.toml reads it; ``depthutils.__version__`` re-exports it). A
module of its own so that the package's modules can read it without importing the package's root."""

__version__ = "0.2.0"
