"""mlflow-syncer: copy and mirror MLflow experiments, runs, metrics, artifacts and models."""

__version__ = "0.1.0"
