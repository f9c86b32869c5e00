# byok-bot: small image, non-root user, health check on /healthz.
#   docker build -t byok-bot .
#   docker run -d --env-file .env -p 8080:8080 -v byok-data:/data
#     -v "$PWD/config.toml:/etc/byok-bot/config.toml:ro" byok-bot
# config.toml: docker/config.toml with [slack] and/or [discord] enabled (see README).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY byok ./byok
COPY bot ./bot
COPY adapters ./adapters
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BYOK_CONFIG=/etc/byok-bot/config.toml
COPY --from=build /install /usr/local
COPY docker/config.toml /etc/byok-bot/config.toml
RUN useradd --system --uid 10001 --home-dir /data --create-home byok
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["byok-bot"]
CMD ["run"]
