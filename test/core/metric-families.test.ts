import test from 'ava';
import { Counter, Histogram, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from '../../core/ops/metric-families.js';

const BUCKETS = [0.001, 0.005, 0.01, 0.5, 1];

/** The same observations through prom-client's own metrics and through the bound families. */
function bothWays(record: (counter: { labels(...values: string[]): { inc(by?: number): void } }, histogram: { labels(...values: string[]): { observe(value: number): void } }) => void) {
  const reference = new Registry();
  record(
    new Counter({ name: 'test_requests_total', help: 'Requests "by" route\\method.', labelNames: ['route', 'method'], registers: [reference] }),
    new Histogram({ name: 'test_duration_seconds', help: 'Latency.', labelNames: ['route'], buckets: BUCKETS, registers: [reference] }),
  );
  const bound = new Registry();
  const counter = new CounterFamily('test_requests_total', 'Requests "by" route\\method.', ['route', 'method'], bound);
  const histogram = new HistogramFamily('test_duration_seconds', 'Latency.', ['route'], BUCKETS, bound);
  record(counter, histogram);
  return { reference, bound, counter, histogram };
}

test('the bound families render exactly as prom-client renders the same observations', async (t) => {
  const { reference, bound } = bothWays((counter, histogram) => {
    const get = counter.labels('tokens.self', 'GET');
    get.inc();
    get.inc();
    counter.labels('proxy.svc', 'POST').inc(3);
    counter.labels('odd "route"\n', 'GET').inc();
    const timer = histogram.labels('tokens.self');
    // On a bound (le is inclusive), between bounds, above every bound, and zero.
    for (const value of [0.001, 0.0042, 0.7, 12, 0]) timer.observe(value);
    histogram.labels('proxy.svc').observe(0.02);
  });
  const expected = await reference.metrics();
  t.is(await bound.metrics(), expected);
  t.true(expected.includes('test_duration_seconds_bucket{le="0.001",route="tokens.self"} 2\n'));
  t.true(expected.includes('test_duration_seconds_bucket{le="+Inf",route="tokens.self"} 5\n'));
  t.true(expected.includes('test_requests_total{route="odd \\"route\\"\\n",method="GET"} 1'));
  // The JSON form too, but for prom-client's empty exemplar fields.
  const withoutExemplars = (metrics: Array<{ values: Array<Record<string, unknown>> }>) =>
    metrics.map((metric) => ({ ...metric, values: metric.values.map(({ exemplar: _exemplar, ...value }) => value) }));
  t.deepEqual(withoutExemplars((await bound.getMetricsAsJSON()) as never), withoutExemplars((await reference.getMetricsAsJSON()) as never));
});

test('a family with no observations renders only its help and type, as prom-client does', async (t) => {
  const { reference, bound } = bothWays(() => {});
  t.is(await bound.metrics(), await reference.metrics());
});

test('reset zeroes the series and the children held keep counting into them', async (t) => {
  const { bound, counter, histogram } = bothWays(() => {});
  const child = counter.labels('a', 'GET');
  const timer = histogram.labels('a');
  child.inc(5);
  timer.observe(0.002);
  bound.resetMetrics();
  child.inc();
  timer.observe(0.3);
  const text = await bound.metrics();
  t.true(text.includes('test_requests_total{route="a",method="GET"} 1\n'));
  t.true(text.includes('test_duration_seconds_bucket{le="0.005",route="a"} 0\n'));
  t.true(text.includes('test_duration_seconds_bucket{le="0.5",route="a"} 1\n'));
  t.true(text.includes('test_duration_seconds_sum{route="a"} 0.3\n'));
});

test('binding the wrong number of label values is refused, and values that are not finite are not counted', (t) => {
  const { counter, histogram } = bothWays(() => {});
  t.throws(() => counter.labels('only-route'), { message: 'test_requests_total takes 2 label values, got 1' });
  const timer = histogram.labels('b');
  timer.observe(Number.NaN);
  timer.observe(Number.POSITIVE_INFINITY);
  t.deepEqual(
    histogram.get().values.filter((value) => value.metricName === 'test_duration_seconds_count'),
    [{ labels: { route: 'b' }, value: 0, metricName: 'test_duration_seconds_count' }],
  );
});
