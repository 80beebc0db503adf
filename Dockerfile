FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY skipcore skipcore
COPY api api
COPY worker worker
COPY persistence persistence
COPY migrations migrations
COPY cli cli
COPY client client
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["skipcore", "api", "--host", "0.0.0.0", "--port", "8000"]
