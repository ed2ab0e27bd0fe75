# mlflow-syncer mirror in a container: `docker build -t mlflow-syncer .` then see docs/OPERATIONS.md.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 mlflow-syncer \
 && useradd --system --uid 10001 --gid mlflow-syncer --home-dir /state --shell /usr/sbin/nologin mlflow-syncer \
 && mkdir -p /state /config \
 && chown mlflow-syncer:mlflow-syncer /state

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY syncer ./syncer
RUN pip install -c constraints.txt ".[azureml,postgres]"

# The state store lives on a volume; the config is mounted read-only at /config/mirror.yaml and the
# secrets come from the environment (docker run --env-file).
ENV MLFLOW_SYNCER_STATE=sqlite:////state/state.db \
    MLFLOW_SYNCER_MIRROR__HTTP_HOST=0.0.0.0 \
    MLFLOW_SYNCER_MIRROR__HTTP_PORT=8080 \
    MLFLOW_SYNCER_LOG_FORMAT=json
VOLUME ["/state"]
EXPOSE 8080
USER mlflow-syncer:mlflow-syncer
WORKDIR /state

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4); sys.exit(0)"]

# docker stop sends SIGTERM and waits 10 s by default: use `docker stop -t 45` (shutdown_timeout is 30 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["mlflow-syncer", "mirror"]
CMD ["--config", "/config/mirror.yaml"]
