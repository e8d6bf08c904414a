import { createMetrics } from './metrics.ts';

/** docs/metrics.md, rendered from the registry itself so the list cannot drift from the code. */
export function renderMetricsDocs(): string {
  const { registry } = createMetrics();
  const lines = [
    '# Metrics',
    '',
    '<!-- Generated from src/metrics/metrics.ts by `npm run docs:metrics`. Do not edit by hand. -->',
    '',
    'Served in Prometheus text format at `metrics.path` (default `/metrics`). Labels are bounded',
    'sets (reasons, error codes, ingress kinds): never a channel, client, token or URL. The standard',
    '`process_*` and `nodejs_*` metrics of prom-client are exported too.',
    '',
    '| metric | type | labels | meaning |',
    '| --- | --- | --- | --- |',
  ];
  for (const metric of registry.getMetricsAsArray()) {
    if (!metric.name.startsWith('sseg_')) continue;
    // prom-client keeps labelNames on the instance but does not declare it on MetricObject.
    const labelNames = (metric as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
    const labels = labelNames.map((label) => `\`${label}\``).join(', ');
    lines.push(`| \`${metric.name}\` | ${String(metric.type)} | ${labels} | ${metric.help.replaceAll('|', '\\|')} |`);
  }
  registry.clear();
  return `${lines.join('\n')}\n`;
}
