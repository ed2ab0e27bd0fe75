"""The command line: flags, config loading, one function per command, exit codes. Thin: the work is
in the engine.

May import: anything in syncer.
"""
