import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { diverges, runDifferential, startReference } from '../support/head-fuzz.ts';

describe('the front door against node:http (differential fuzz)', () => {
  let gw: TestGateway;
  let reference: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    gw = await startGateway({ log: { level: 'silent' } });
    reference = await startReference();
  });
  afterAll(async () => {
    await gw.close();
    await reference.close();
  });

  it('the judge itself tells a taken head from a refused one', () => {
    expect(diverges(400, 200)).toBe(true);
    expect(diverges(200, 431)).toBe(true);
    expect(diverges(200, 200)).toBe(false);
    expect(diverges(400, 400)).toBe(false);
  });

  it('takes no head node:http refuses, and refuses none it takes: 2,000 seeded heads', async () => {
    const divergences = await runDifferential(gw.url, reference.url, 20261201, 2_000);
    expect(divergences).toEqual([]);
  }, 60_000);
});
