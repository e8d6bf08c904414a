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
  const url = await gateway.listen();
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
