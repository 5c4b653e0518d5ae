"""Base layer: the package's version, a literal so importing it reads no metadata.

Kept equal to ``version`` in pyproject.toml (a test checks both and the
installed distribution's metadata).
"""

__version__ = "0.1.0"
