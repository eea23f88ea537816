"""The command-line face: parses input, calls the core, renders with Rich. No business rules."""
