import { randomBytes } from 'node:crypto';
import { loadConfig } from '../config/load.ts';
import { GatewayCluster } from '../cluster/primary.ts';
import { createGateway } from '../gateway.ts';
import { exitOnStopSignals } from '../lifecycle.ts';
import { createLogger } from '../logger.ts';

export interface ServeOptions {
  config?: string;
  port?: number;
  host?: string;
}

export async function serveCommand(options: ServeOptions): Promise<void> {
  const overrides = { server: { port: options.port, host: options.host } };
  let config = await loadConfig({ file: options.config, overrides });
  let generatedToken: string | undefined;
  if (config.publish.tokens.length === 0) {
    // Zero setup, yet never an open publish endpoint: a fresh token each start, shown once to the operator.
    generatedToken = randomBytes(24).toString('base64url');
    config = await loadConfig({ file: options.config, overrides: { ...overrides, publish: { tokens: [generatedToken] } } });
  }

  const logger = createLogger(config.log.level);
  // streams.workers > 1: this process only runs the workers, each a gateway on the shared log.
  const gateway = config.streams.workers > 1 ? new GatewayCluster(config, logger) : createGateway(config, { logger });
  exitOnStopSignals(() => gateway.close(), config.server.shutdownTimeout + 5_000, logger);
  let url: URL;
  try {
    url = await gateway.listen();
  } catch (error) {
    // Whatever the gateway opened before failing (Redis clients, timers) must not keep the process alive.
    await gateway.close().catch(() => undefined);
    if ((error as NodeJS.ErrnoException).syscall !== 'listen') throw error;
    throw new Error(`cannot listen on ${config.server.host}:${config.server.port}: ${listenFailure(error as NodeJS.ErrnoException)}`, { cause: error });
  }
  if (generatedToken !== undefined) {
    // On stderr and not through the logger: log lines never carry credentials.
    const base = `http://localhost:${url.port}`;
    process.stderr.write(
      `\npublish token (generated; set SSEG_PUBLISH__TOKENS to fix one): ${generatedToken}\n` +
        `  subscribe: curl -N ${base}${config.streams.path}/demo\n` +
        `  publish:   curl -H 'Authorization: Bearer ${generatedToken}' -H 'Content-Type: application/json' \\\n` +
        `               -d '{"channel":"demo","data":"hello"}' ${base}${config.publish.path}\n\n`,
    );
  }
}

/** `EADDRINUSE (…)` rather than Node's `listen EADDRINUSE: address already in use 0.0.0.0:8080`. */
function listenFailure(error: NodeJS.ErrnoException): string {
  if (error.code === 'EADDRINUSE') return 'EADDRINUSE (another process holds the port; pick another with --port)';
  if (error.code === 'EACCES') return 'EACCES (ports below 1024 need privileges)';
  if (error.code === 'EADDRNOTAVAIL') return 'EADDRNOTAVAIL (no interface of this host has that address)';
  return error.code ?? error.message;
}
