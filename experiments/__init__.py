"""Procedures that use the bench: CHSH runs, correlation curves, demos, studies."""
