# Production image: slim Python, the package installed without build tools, run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gql_server ./gql_server
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

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
# SECRET_KEY and DATABASE_URL come from the environment; production refuses to start without a key.
CMD ["gql-server", "serve", "--host", "0.0.0.0"]
