/**
 * A minimal Prometheus metrics registry: counters and gauges with labels, rendered in the text
 * exposition format (version 0.0.4). Enough for the agent; no dependency needed for it.
 */

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, { labels: Labels; value: number }>;
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export class Metrics {
  private readonly families = new Map<string, Family>();

  private family(name: string, help: string, type: Family['type']): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { name, help, type, values: new Map() };
      this.families.set(name, f);
    }
    return f;
  }

  counter(name: string, help: string): { inc: (labels?: Labels, by?: number) => void } {
    const f = this.family(name, help, 'counter');
    return {
      inc: (labels = {}, by = 1) => {
        const k = labelKey(labels);
        const cur = f.values.get(k);
        f.values.set(k, { labels, value: (cur?.value ?? 0) + by });
      },
    };
  }

  gauge(name: string, help: string): { set: (value: number, labels?: Labels) => void } {
    const f = this.family(name, help, 'gauge');
    return { set: (value, labels = {}) => f.values.set(labelKey(labels), { labels, value }) };
  }

  render(): string {
    const lines: string[] = [];
    for (const f of this.families.values()) {
      lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
      for (const { labels, value } of f.values.values()) {
        const l = Object.entries(labels)
          .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
          .join(',');
        lines.push(`${f.name}${l ? `{${l}}` : ''} ${value}`);
      }
    }
    return lines.join('\n') + '\n';
  }
}
