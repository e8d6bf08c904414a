#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { describeConfigKeys, renderConfigDocs, renderEffectiveConfig } from '../config/describe.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { renderErrorDocs } from '../errors.ts';
import { renderMetricsDocs } from '../metrics/describe.ts';
import { publishCommand, UsageError } from './publish.ts';
import { serveCommand } from './serve.ts';

/**
 * The command line: parse arguments, hand over to the library. No gateway logic lives here.
 * Exit codes (docs/cli.md): 0 done, 1 a runtime failure (bad config file, cannot listen, publish
 * refused or unreachable), 2 a usage error (unknown flag, missing argument, bad flag value), so
 * a script can tell "fix the command line" from "fix the world".
 */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const program = new Command()
  .name('sse-gateway')
  .description('A Server-Sent Events gateway in front of your app.')
  // Commander would exit 1 on its own usage errors; thrown instead, they leave with EXIT_USAGE below.
  .exitOverride()
  .showHelpAfterError('(run with --help for usage)');

program
  .command('serve')
  .description('run the gateway (no --config: the embedded default, in-memory history, port 8080)')
  .option('-c, --config <file>', 'YAML config file')
  .option('-p, --port <port>', 'port to listen on (overrides server.port)', parsePort)
  .option('-H, --host <host>', 'interface to listen on (overrides server.host)')
  .action(serveCommand);

program
  .command('check-config')
  .description('validate a config file and print the effective configuration (with units, secrets masked), which it reads back as is')
  .argument('<file>', 'YAML config file')
  .action(async (file: string) => {
    const config = await loadConfig({ file });
    process.stdout.write(renderEffectiveConfig(config));
    process.stderr.write(`${file}: valid (${describeConfigKeys().length} keys known)\n`);
  });

program
  .command('publish')
  .description('publish one event to a running gateway')
  .requiredOption('--url <url>', 'the gateway, e.g. http://localhost:8080 (or its full publish URL)')
  .option('--token-file <file>', 'read the publish token from FILE (one line)')
  .option('--token <token>', 'the publish token itself (visible to other users in ps; prefer SSEG_TOKEN or --token-file)')
  .requiredOption('--channel <channel>', 'channel to publish on')
  .option('--event <name>', 'event name (the SSE `event:` field)')
  .option('--json', 'parse DATA as JSON and send it as a JSON value, not a string')
  .option('--id-only', 'print only the assigned id')
  .argument('<data>', 'event data (a string; with --json, a JSON value)')
  .addHelpText('after', '\nThe token comes from --token, else --token-file, else the SSEG_TOKEN environment variable.')
  .action((data: string, options: Parameters<typeof publishCommand>[1]) => publishCommand(data, options));

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
  process.exitCode = exitCodeOf(error);
}

/** Reports `error` on stderr (unless commander already has) and says which exit code it means. */
function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message (or the help). `--help`, `help` and `--version` exit 0;
    // everything else it raises is about the command line, a bare `sse-gateway` included.
    return error.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`error: ${error.message}\n(run with --help for usage)\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(error instanceof ConfigError ? `${error.message}\n` : `sse-gateway: ${error instanceof Error ? error.message : String(error)}\n`);
  return EXIT_FAILURE;
}
