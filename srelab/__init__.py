"""srelab: a Docker Compose SRE lab driven from Python (python-on-whales)."""

__version__ = "0.1.0"
