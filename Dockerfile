# Production image: slim Python, the package installed without build tools, run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
# requirements.lock: the exact versions `make` and CI test with (pip constraints).
COPY pyproject.toml README.md requirements.lock ./
COPY gql_server ./gql_server
# The built-in methods (gql_server_totp, ...) are modules under plugins/, named in pyproject.toml.
COPY plugins ./plugins
# Every wheel at its locked version; PIP_CONSTRAINT also pins the build back end in pip's isolated build.
RUN PIP_CONSTRAINT=/src/requirements.lock pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GQL_SERVER_ENV=production
RUN groupadd --system --gid 10001 gql \
    && useradd --system --uid 10001 --gid gql --home-dir /srv/gql-server --create-home gql
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/gql_server-*.whl \
    && rm -rf /wheels
WORKDIR /srv/gql-server
USER 10001:10001
EXPOSE 8000
# Liveness only (/healthz: the process answers). Readiness (/readyz: database, migrations, Redis) is for the
# load balancer: a database outage must take traffic away, not restart every container. No curl in the
# slim image, so Python asks. With METRICS_ENABLED, set METRICS_HOST=0.0.0.0 and publish METRICS_PORT
# (9464) to the scraper only.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
# SECRET_KEY and DATABASE_URL come from the environment; production refuses to start without a key.
# On SIGTERM (docker stop) in-flight requests finish within GRACEFUL_SHUTDOWN_SECONDS (25, below docker's 30 s).
CMD ["gql-server", "serve", "--host", "0.0.0.0"]
