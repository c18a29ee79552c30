"""Real servers for the test suite, started on loopback and stopped at the end of the session.

Each server lives in its own module with a ``start_*`` function returning a handle with ``stop()``;
``tests/conftest.py`` turns them into session fixtures. A missing tool is a failure that says what
to install (``scripts/bootstrap.sh`` installs everything), never a skip.
"""
