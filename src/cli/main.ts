#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { stringify as toYaml } from 'yaml';
import { describeConfigKeys, maskSecrets, renderConfigDocs } from '../config/describe.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { renderErrorDocs } from '../errors.ts';
import { renderMetricsDocs } from '../metrics/describe.ts';
import { publishCommand } from './publish.ts';
import { serveCommand } from './serve.ts';

/** The command line: parse arguments, hand over to the library. No gateway logic lives here. */
const program = new Command()
  .name('sse-gateway')
  .description('A Server-Sent Events gateway in front of your app.')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the gateway (no --config: the embedded default, in-memory history, port 8080)')
  .option('-c, --config <file>', 'YAML config file')
  .option('-p, --port <port>', 'port to listen on (overrides server.port)', parsePort)
  .option('-H, --host <host>', 'interface to listen on (overrides server.host)')
  .action(serveCommand);

program
  .command('check-config')
  .description('validate a config file and print the effective configuration, secrets masked')
  .argument('<file>', 'YAML config file')
  .action(async (file: string) => {
    const config = await loadConfig({ file });
    process.stdout.write(toYaml(maskSecrets(config)));
    process.stderr.write(`${file}: valid (${describeConfigKeys().length} keys known)\n`);
  });

program
  .command('publish')
  .description('publish one event to a running gateway')
  .requiredOption('--url <url>', 'the gateway, e.g. http://localhost:8080 (or its full publish URL)')
  .requiredOption('--token <token>', 'a publish token (publish.tokens)')
  .requiredOption('--channel <channel>', 'channel to publish on')
  .option('--event <name>', 'event name (the SSE `event:` field)')
  .option('--id-only', 'print only the assigned id')
  .argument('<data>', 'event data (sent as a string)')
  .action(publishCommand);

program.command('docs-config', { hidden: true }).action(() => {
  process.stdout.write(renderConfigDocs());
});
program.command('docs-metrics', { hidden: true }).action(() => {
  process.stdout.write(renderMetricsDocs());
});
program.command('docs-errors', { hidden: true }).action(() => {
  process.stdout.write(renderErrorDocs());
});

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return port;
}

try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(`sse-gateway: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exitCode = 1;
}
