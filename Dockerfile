# mlflow-syncer in a container: `docker build -t mlflow-syncer .` (another base: --build-arg BASE_IMAGE=...);
# deployment: docs/OPERATIONS.md. `docker run IMAGE` runs the mirror service; `docker run IMAGE migrate ...`
# (or any other command) runs that command instead.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 mlflow-syncer \
 && useradd --system --uid 10001 --gid mlflow-syncer --home-dir /state --shell /usr/sbin/nologin mlflow-syncer \
 && mkdir -p /state /config /etc/mlflow-syncer \
 && chown mlflow-syncer:mlflow-syncer /state

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY syncer ./syncer
# --build-arg EXTRAS=azureml,postgres,ray: the image for Ray pods (deploy/kubernetes/rayjob.yaml)
ARG EXTRAS=azureml,postgres
RUN pip install -c constraints.txt ".[${EXTRAS}]"

# The image's settings are defaults, not overrides: a config file of their own, read before the user's
# /config/mirror.yaml, which overrides any of them (docs/CONFIGURATION.md). Secrets come from the
# environment (docker run --env-file). No MLFLOW_SYNCER_<OPTION> here: it would beat the mounted file.
COPY deploy/docker/image-defaults.yaml /etc/mlflow-syncer/image-defaults.yaml
COPY deploy/docker/healthcheck.py /usr/local/lib/mlflow-syncer/healthcheck.py
ENV MLFLOW_SYNCER_CONFIG=/etc/mlflow-syncer/image-defaults.yaml:/config/mirror.yaml
VOLUME ["/state"]
EXPOSE 8080
USER mlflow-syncer:mlflow-syncer
WORKDIR /state

# /healthz on the port the configuration names (mirror.http_port: 8080 unless the mounted file moves it).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "/usr/local/lib/mlflow-syncer/healthcheck.py"]

# docker stop sends SIGTERM and waits 10 s by default: use `docker stop -t 45` (shutdown_timeout is 30 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["mlflow-syncer"]
CMD ["mirror", "--config", "/etc/mlflow-syncer/image-defaults.yaml:/config/mirror.yaml"]
