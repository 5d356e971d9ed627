"""Offline evaluation runs of prompt versions and models (built in issue #5)."""
