"""Small fakes of vendor libraries, written from docs/protocols.md."""
