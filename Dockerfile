# Image for the API and the worker (temporal-compose.yaml). The executor has its own: executor/Dockerfile.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY core ./core
COPY cli ./cli
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
COPY executor ./executor
COPY worker ./worker
COPY wegent ./wegent
RUN pip install --no-cache-dir . && useradd --uid 10002 --create-home wegent
USER 10002
EXPOSE 8000
CMD ["wegent", "api", "--host", "0.0.0.0", "--port", "8000"]
