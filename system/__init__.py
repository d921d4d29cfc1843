"""qdc-loop's domain layer: plain Python, importable and testable without Ray."""
