"""Embedded station files (docs/station.md): the default simulated bench, to copy and edit."""
