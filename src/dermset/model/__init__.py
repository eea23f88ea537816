"""The information model: the 16 fields in six blocks, vocabularies, taxonomy, validation.

Pure: imports nothing of the project and does no I/O.
"""
