/**
 * The long run of the front door's differential fuzz (test/integration/front-door-fuzz.test.ts
 * runs 2,000 heads in `npm test`): many more seeded heads against a gateway and a plain
 * node:http server, printing every divergence. Exits 1 if there is any.
 *
 *   node bench/front-door-fuzz.ts [--heads 100000] [--seed N]
 */
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../src/config/load.ts';
import { createGateway } from '../src/gateway.ts';
import { createLogger } from '../src/logger.ts';
import { runDifferential, startReference } from '../test/support/head-fuzz.ts';

const { values } = parseArgs({ options: { heads: { type: 'string', default: '100000' }, seed: { type: 'string', default: String(Date.now() % 2 ** 31) } } });
const heads = Number(values.heads);
const seed = Number(values.seed);
const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
const config = resolveConfig({ server: { host: '127.0.0.1', port: 0 }, log: { level: 'silent' } });
const gateway = createGateway(config, { logger: createLogger('silent', silent) });
const url = await gateway.listen();
const reference = await startReference();
const started = process.hrtime.bigint();
const divergences = await runDifferential(url.origin, reference.url, seed, heads, 32);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
for (const divergence of divergences) console.log(JSON.stringify(divergence));
console.log(`seed ${seed}: ${heads} heads in ${seconds.toFixed(1)} s, ${divergences.length} divergences`);
await reference.close();
await gateway.close();
process.exit(divergences.length === 0 ? 0 : 1);
