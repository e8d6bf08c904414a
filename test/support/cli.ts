import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  /** Resolves when stdout or stderr has matched `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): void;
}

/** Variables for the child on top of the test's own; `undefined` removes one (an SSEG_TOKEN the runner happens to have). */
export type CliEnv = Record<string, string | undefined>;

/** Runs `sse-gateway <args>` as a real child process on the same Node as the tests. */
export function runCli(args: string[], env: CliEnv = {}): CliProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete childEnv[name];
  const child = spawn(process.execPath, [CLI_PATH, ...args], { env: childEnv, stdio: 'pipe' });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const listener of listeners) listener();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    for (const listener of listeners) listener();
  });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(out) ?? pattern.exec(err);
          if (match) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${String(pattern)}; stdout: ${out.slice(-800)} stderr: ${err.slice(-800)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    kill: (signal = 'SIGTERM') => child.kill(signal),
  };
}

export interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs a command that ends by itself (check-config, publish, a usage error) and gives its exit code and output. */
export async function runCliToEnd(args: string[], env: CliEnv = {}): Promise<CliResult> {
  const cli = runCli(args, env);
  const code = await cli.exited;
  // 'exit' can come before the last 'data' of a pipe; 'close' waits for both streams to end.
  if (cli.child.stdout.readableEnded === false || cli.child.stderr.readableEnded === false) await new Promise((resolve) => cli.child.once('close', resolve));
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}
