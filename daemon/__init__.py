"""mlmaint's daemon: the long-running service and everything that does I/O."""

__version__ = "0.1.0"
