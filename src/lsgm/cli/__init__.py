"""The ``lsgm`` command line."""
