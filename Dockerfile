FROM python:3.12-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY ccr ccr
COPY templates templates
COPY static static
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 --user-group ccr
USER ccr
EXPOSE 8000
CMD ["ccr", "serve", "--host", "0.0.0.0", "--port", "8000"]
