"""Plain data and pure rules shared by every stage: snapshots, actions, kinds, capabilities, error
types, exit codes, fitting values to limits, secret redaction.

May import: the standard library only (and itself). No network, database, MLflow client or retry
module.
"""
