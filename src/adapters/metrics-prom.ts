/**
 * The Metrics port on prom-client: one Registry per agent (never prom-client's global one, so
 * two agents in one test process do not share counters), metrics created on first use from
 * their declaration in src/core/metrics.ts and reused by name afterwards.
 */

import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from 'prom-client';
import type { Counter, Gauge, Histogram, HistogramDef, MetricDef, Metrics } from '../ports/metrics.js';

export class PromMetrics implements Metrics {
  private readonly registry = new Registry();
  private readonly counters = new Map<string, PromCounter>();
  private readonly gauges = new Map<string, PromGauge>();
  private readonly histograms = new Map<string, PromHistogram>();

  counter(def: MetricDef): Counter {
    let c = this.counters.get(def.name);
    if (!c) {
      c = new PromCounter({
        name: def.name,
        help: def.help,
        labelNames: [...(def.labelNames ?? [])],
        registers: [this.registry],
      });
      this.counters.set(def.name, c);
    }
    const metric = c;
    return { inc: (labels = {}, by = 1) => metric.inc(labels, by) };
  }

  gauge(def: MetricDef): Gauge {
    let g = this.gauges.get(def.name);
    if (!g) {
      g = new PromGauge({
        name: def.name,
        help: def.help,
        labelNames: [...(def.labelNames ?? [])],
        registers: [this.registry],
      });
      this.gauges.set(def.name, g);
    }
    const metric = g;
    return { set: (value, labels = {}) => metric.set(labels, value) };
  }

  histogram(def: HistogramDef): Histogram {
    let h = this.histograms.get(def.name);
    if (!h) {
      h = new PromHistogram({
        name: def.name,
        help: def.help,
        labelNames: [...(def.labelNames ?? [])],
        buckets: [...def.buckets],
        registers: [this.registry],
      });
      this.histograms.set(def.name, h);
    }
    const metric = h;
    return { observe: (value, labels = {}) => metric.observe(labels, value) };
  }

  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
