# cronkit as a container image: `cronkit` is the entrypoint, so a Kubernetes CronJob or a
# compose service runs `run TASK --trigger cron`, `check`, `status`... as its arguments.
# Build: docker build -t cronkit:0.1.0 .

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cronkit ./cronkit
RUN python -m pip install --no-cache-dir --upgrade pip build \
 && python -m build --wheel --outdir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CRONKIT_HOME=/var/lib/cronkit
COPY --from=build /wheels /wheels
COPY requirements/lock.txt /wheels/
# The dependencies at the versions the tests passed with (hash-checked), then cronkit alone.
RUN python -m pip install --no-cache-dir --requirement /wheels/lock.txt \
 && python -m pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels \
 && groupadd --system --gid 10001 cronkit \
 && useradd --system --uid 10001 --gid cronkit --home-dir /var/lib/cronkit --create-home cronkit
USER 10001:10001
WORKDIR /var/lib/cronkit
ENTRYPOINT ["cronkit"]
CMD ["--help"]
