"""The pure planners: (source snapshot, destination snapshot, options) -> actions. No I/O.

May import: syncer.core only (checked: importing a planner loads no MLflow, HTTP, database or retry
module).
"""
