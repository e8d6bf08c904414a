import { readFile } from 'node:fs/promises';

export interface PublishOptions {
  url: string;
  token?: string;
  tokenFile?: string;
  channel: string;
  event?: string;
  json?: boolean;
  idOnly?: boolean;
}

/** The command line was wrong (exit 2), as opposed to the world (exit 1). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

// What an Authorization header can carry: anything else would make fetch throw a message that quotes the header.
const headerSafe = /^[\x21-\x7e]+$/;

/** A small publisher for scripts: one POST, the answer on stdout, a non-zero exit on any refusal. */
export async function publishCommand(data: string, options: PublishOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const target = publishUrl(options.url);
  const body = JSON.stringify({
    channel: options.channel,
    ...(options.event === undefined ? {} : { event: options.event }),
    data: options.json === true ? parseJson(data) : data,
  });
  const token = await readToken(options, env);
  try {
    await send(target, token, body, options.idOnly === true);
  } catch (error) {
    // Last line of defence: whatever went wrong, the message leaves without the token.
    if (error instanceof Error && token.length >= 8) error.message = error.message.replaceAll(token, '***');
    throw error;
  }
}

function publishUrl(text: string): URL {
  let target: URL;
  try {
    target = new URL(text);
  } catch {
    throw new UsageError(`--url: expected an http:// or https:// URL such as http://localhost:8080, got ${JSON.stringify(text)}`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    throw new UsageError(`--url: expected an http:// or https:// URL such as http://localhost:8080, got ${JSON.stringify(text)}`);
  // Not echoed: the URL carries a credential. fetch would refuse it anyway, quoting it whole.
  if (target.username !== '' || target.password !== '')
    throw new UsageError('--url must not carry credentials (user:password@); give the token with SSEG_TOKEN or --token-file');
  if (target.pathname === '/') target.pathname = '/publish';
  return target;
}

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch (error) {
    throw new UsageError(`--json: DATA is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** --token, else --token-file, else SSEG_TOKEN: the flags say what this one call wants, the environment what a script set up. */
async function readToken(options: PublishOptions, env: NodeJS.ProcessEnv): Promise<string> {
  if (options.token !== undefined && options.tokenFile !== undefined) throw new UsageError('give either --token or --token-file, not both');
  let token: string;
  let source: string;
  if (options.token !== undefined) {
    [token, source] = [options.token, '--token'];
  } else if (options.tokenFile !== undefined) {
    source = `--token-file ${options.tokenFile}`;
    try {
      token = (await readFile(options.tokenFile, 'utf8')).trim();
    } catch (error) {
      throw new Error(`${source}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, { cause: error });
    }
    if (token === '') throw new Error(`${source}: is empty`);
  } else if (env['SSEG_TOKEN'] !== undefined && env['SSEG_TOKEN'] !== '') {
    [token, source] = [env['SSEG_TOKEN'], 'SSEG_TOKEN'];
  } else {
    throw new UsageError('no publish token: set SSEG_TOKEN, or give --token-file FILE or --token TOKEN');
  }
  if (token === '') throw new UsageError(`${source} is empty`);
  if (!headerSafe.test(token)) {
    const problem = `${source}: the token holds characters a header cannot carry (spaces, line breaks, control or non-ASCII characters)`;
    // A file's content is the world's fault (exit 1); a flag's or a variable's, the command line's (exit 2).
    throw options.tokenFile !== undefined && options.token === undefined ? new Error(problem) : new UsageError(problem);
  }
  return token;
}

async function send(target: URL, token: string, body: string, idOnly: boolean): Promise<void> {
  let response: Response;
  try {
    response = await fetch(target, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json' },
      body,
    });
  } catch (error) {
    throw new Error(`cannot reach ${target.origin}: ${describeFetchFailure(error)}`, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) throw new Error(`publish refused (${response.status}): ${text.length > 500 ? `${text.slice(0, 500)}…` : text}`);
  let answer: { id?: string };
  try {
    answer = JSON.parse(text) as { id?: string };
  } catch {
    throw new Error(`${target.href} answered ${response.status} with something other than JSON: is it the gateway's publish path?`);
  }
  process.stdout.write(idOnly ? `${answer.id ?? ''}\n` : `${text}\n`);
}

interface NetError {
  code?: string;
  address?: string;
  port?: number;
  hostname?: string;
  message?: string;
  errors?: unknown[];
  cause?: unknown;
}

/**
 * Why the connection failed, as `ECONNREFUSED 127.0.0.1:8080`: fetch only says `fetch failed` and
 * keeps the reason in `cause` (an AggregateError when every address of a name was tried).
 */
function describeFetchFailure(error: unknown): string {
  const cause = (error as NetError | undefined)?.cause as NetError | undefined;
  if (cause === undefined || cause === null) return error instanceof Error ? error.message : String(error);
  const one = (item: NetError): string => {
    if (item.code !== undefined && item.address !== undefined)
      return `${item.code} ${item.address.includes(':') ? `[${item.address}]` : item.address}${item.port === undefined ? '' : `:${item.port}`}`;
    if (item.code !== undefined && item.hostname !== undefined) return `${item.code} ${item.hostname}`;
    if (item.code !== undefined) return `${item.code}${item.message ? ` (${item.message})` : ''}`;
    return item.message ?? 'unknown error';
  };
  if (Array.isArray(cause.errors) && cause.errors.length > 0) return (cause.errors as NetError[]).map(one).join(', ');
  return one(cause);
}
