"""The ``dgm`` command."""
