"""vidflow: recipes in, vertical videos out — cached, concurrent, cheap."""

__version__ = "0.1.0"
