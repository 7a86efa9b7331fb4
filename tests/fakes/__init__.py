"""Small fakes of vendor libraries, written from /work/shared/reference/instruments.md."""
