"""The scorers registered on an experiment (MLflow 3 `mlflow.genai.scorers`): the latest version of
each name, copied as the serialized scorer it is (syncer.kinds.registry lists it)."""
