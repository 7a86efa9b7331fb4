"""Small fakes of vendor libraries, written from shared/reference/instruments.md."""
