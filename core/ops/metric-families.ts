import type { Registry } from 'prom-client';

/**
 * Counters and histograms for the per-request metrics, whose label sets are bound once and then
 * counted with plain number updates. Why not prom-client's own Counter and Histogram: even a bound
 * child of theirs validates its labels, builds their hash string and looks it up on every `inc()` and
 * `observe()`. The request path does three of these per relayed request; measured with a cpu-profile
 * of `npm run bench:proxy`'s proxy route, they took about 3 % of gatehouse's main-thread CPU. The
 * registry still renders these families (they have prom-client's metric shape: `name`, `help`,
 * `type`, `aggregator`, `get()`), so `/-/metrics` reads the same as before, line for line.
 */

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface Family<Child> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** label values joined by NUL → child, in the order they were first bound (the order of the output). */
  readonly children: Map<string, Child>;
}

/** The child for `values`, bound on first use; the values must be one per label name. */
function childOf<Child>(family: Family<Child>, values: readonly string[], create: (labels: Record<string, string>) => Child): Child {
  const key = values.length === 1 ? values[0] : values.join('\u0000');
  let child = family.children.get(key);
  if (!child) {
    if (values.length !== family.labelNames.length) throw new Error(`${family.name} takes ${family.labelNames.length} label values, got ${values.length}`);
    const labels: Record<string, string> = {};
    family.labelNames.forEach((name, index) => (labels[name] = values[index]));
    child = create(labels);
    family.children.set(key, child);
  }
  return child;
}

export interface CounterChild {
  inc(by?: number): void;
}

class CounterSeries implements CounterChild {
  value = 0;
  constructor(readonly labels: Record<string, string>) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/** A Prometheus counter with labels. */
export class CounterFamily implements Family<CounterSeries> {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly children = new Map<string, CounterSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The counter for these label values (one per label name, in order): keep it and `inc()` it. */
  labels(...values: string[]): CounterChild {
    return childOf(this, values, (labels) => new CounterSeries(labels));
  }

  get() {
    const values: MetricValue[] = [];
    for (const child of this.children.values()) values.push({ labels: child.labels, value: child.value });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Zeroes every series (bound children stay bound: they are held by the code that counts). */
  reset(): void {
    for (const child of this.children.values()) child.value = 0;
  }
}

export interface HistogramChild {
  observe(value: number): void;
}

class HistogramSeries implements HistogramChild {
  /** Observations per bucket (not cumulative): index i counts values in (bound[i-1], bound[i]]; the last, those above every bound. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** A Prometheus histogram with labels and fixed bucket bounds. */
export class HistogramFamily implements Family<HistogramSeries> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly children = new Map<string, HistogramSeries>();
  readonly buckets: readonly number[];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.buckets = [...buckets].sort((a, b) => a - b);
    registry.registerMetric(this as never);
  }

  /** The histogram for these label values (one per label name, in order): keep it and `observe()` on it. */
  labels(...values: string[]): HistogramChild {
    return childOf(this, values, (labels) => new HistogramSeries(labels, this.buckets));
  }

  /** prom-client's shape: cumulative `_bucket` series with `le` first, then `+Inf`, `_sum`, `_count`. */
  get() {
    const values: MetricValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const child of this.children.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, index) => {
        cumulative += child.counts[index];
        values.push({ labels: { le: bound, ...child.labels }, value: cumulative, metricName: bucketName });
      });
      values.push({ labels: { le: '+Inf', ...child.labels }, value: child.count, metricName: bucketName });
      values.push({ labels: child.labels, value: child.sum, metricName: `${this.name}_sum` });
      values.push({ labels: child.labels, value: child.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Zeroes every series (bound children stay bound: they are held by the code that counts). */
  reset(): void {
    for (const child of this.children.values()) {
      child.counts.fill(0);
      child.sum = 0;
      child.count = 0;
    }
  }
}
