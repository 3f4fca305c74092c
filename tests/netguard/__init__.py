"""The tests' loopback-only network guard, for pytest and for every process the tests start.

``loopback_guard`` holds the guard; ``sitecustomize`` installs it in child processes (see
tests/conftest.py, which puts this folder on their PYTHONPATH).
"""
