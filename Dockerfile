# The application image: API, worker, beat, Flower and the migrate job all run
# from it, with different commands (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them: the runtime set
# only (requirements.txt, hashed); tests and tools are in requirements-dev.txt.
COPY requirements.txt .
RUN pip install --require-hashes -r requirements.txt

COPY . .

# Run unprivileged; .run/ is where beat keeps its schedule, .run/prometheus the shared
# metrics (a volume in docker-compose.yml, which takes this owner when it is made).
RUN useradd --create-home --uid 10001 rail \
    && mkdir -p /app/.run/prometheus \
    && chown -R rail /app/.run
USER rail

EXPOSE 8000 5555
CMD ["gunicorn", "--workers", "2", "--bind", "0.0.0.0:8000", "web:create_app()"]
