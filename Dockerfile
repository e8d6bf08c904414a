# syntax=docker/dockerfile:1
# sse-gateway: the TypeScript sources run as they are on Node 24 (type stripping), so there is no
# build step; the image holds production dependencies and src/ only. docs/deployment.md says how
# to build and run it.

# deps: production dependencies only. The `node` devDependency (which gives npm scripts Node 24
# on hosts that lack it) is left out: this image is Node 24 already.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM to the gateway (which drains its streams) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
# The default config: every key at its default but the listen address. Mount your own over it.
COPY deploy/docker/gateway.yaml /etc/sse-gateway/gateway.yaml
# The unprivileged user the node images provide (uid 1000).
USER node
EXPOSE 8080
# node, not curl: the slim image has no curl. The port follows SSEG_SERVER__PORT when it is set.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SSEG_SERVER__PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "src/cli/main.ts"]
CMD ["serve", "--config", "/etc/sse-gateway/gateway.yaml"]
