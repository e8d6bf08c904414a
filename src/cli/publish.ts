export interface PublishOptions {
  url: string;
  token: string;
  channel: string;
  event?: string;
  idOnly?: boolean;
}

/** A small publisher for scripts: one POST, the answer on stdout, a non-zero exit on any refusal. */
export async function publishCommand(data: string, options: PublishOptions): Promise<void> {
  let target: URL;
  try {
    target = new URL(options.url);
  } catch {
    throw new Error(`--url ${JSON.stringify(options.url)} is not a URL`);
  }
  if (target.pathname === '/') target.pathname = '/publish';
  const body = JSON.stringify({ channel: options.channel, ...(options.event === undefined ? {} : { event: options.event }), data });
  const response = await fetch(target, {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${options.token}`, 'Content-Type': 'application/json' },
    body,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`publish refused (${response.status}): ${text}`);
  const answer = JSON.parse(text) as { id?: string };
  process.stdout.write(options.idOnly ? `${answer.id ?? ''}\n` : `${text}\n`);
}
