"""``lsgm experiment NAME``: the papers' experiments, one module each in this package.

Each module defines ``register(subparsers)`` adding its experiment (with a ``--quick`` mode
that the test suite runs) and is discovered automatically.
"""
