"""What people read: the diff report model and its text/JSON/Markdown/HTML renderers, the run
summary, the problem list, the progress bar.

May import: syncer.engine and everything below it.
"""
