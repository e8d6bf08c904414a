import { randomBytes } from 'node:crypto';
import { loadConfig } from '../config/load.ts';
import { createGateway } from '../gateway.ts';

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

  const gateway = createGateway(config);
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

  const stop = (signal: NodeJS.Signals): void => {
    gateway.logger.info({ signal }, 'signal received');
    // Belt and braces: close() is bounded by server.shutdownTimeout; this catches a bug in it.
    setTimeout(() => process.exit(1), config.server.shutdownTimeout + 5_000).unref();
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        gateway.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
