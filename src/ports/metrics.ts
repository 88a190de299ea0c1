/**
 * Metrics: the agent's one metrics registry, as a port, so controllers count and time their
 * syncs without knowing the exposition format. The real one is src/adapters/metrics-prom.ts
 * (prom-client); every metric weft exports is declared once in src/core/metrics.ts.
 */

export type MetricLabels = Record<string, string>;

/** One metric: its Prometheus name, help text and the names of its labels (none when omitted). */
export interface MetricDef {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

/** A histogram also names its bucket bounds (seconds for durations). */
export interface HistogramDef extends MetricDef {
  buckets: readonly number[];
}

export interface Counter {
  inc(labels?: MetricLabels, by?: number): void;
}

export interface Gauge {
  set(value: number, labels?: MetricLabels): void;
}

export interface Histogram {
  observe(value: number, labels?: MetricLabels): void;
}

export interface Metrics {
  /** The counter for `def`; the same one for the same name, however often it is asked for. */
  counter(def: MetricDef): Counter;
  gauge(def: MetricDef): Gauge;
  histogram(def: HistogramDef): Histogram;
  /** Everything, in the Prometheus text format, with its content type. */
  render(): Promise<{ contentType: string; text: string }>;
}
