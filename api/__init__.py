"""The front ends: settings from the environment, the CLI and (later) the HTTP service."""
