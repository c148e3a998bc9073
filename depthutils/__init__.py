"""depthutils: a re-runnable monocular depth estimation study (NYU-Depth V2, CNN encoder-decoders)."""
__version__ = "0.1.0"
__all__ = ["__version__"]
