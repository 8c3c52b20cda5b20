/** One scrape, read as Prometheus reads the text exposition format (0.0.4). */
export interface Scrape {
  /** `name` or `name{label="value",…}`, exactly as written, → its value. */
  series: Map<string, number>;
  /** Metric family name → its `# TYPE` (counter, gauge, histogram, …). */
  types: Map<string, string>;
  /** The value of one series; throws when the scrape does not have it (a missing series is a failure, not 0). */
  value(series: string): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/;

/** Parses an exposition, refusing any line a Prometheus server would refuse. */
export function parsePrometheusText(text: string): Scrape {
  const series = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not a valid exposition line: ${JSON.stringify(line)}`);
    const key = sample[1] + (sample[2] ?? '');
    if (series.has(key)) throw new Error(`series ${key} appears twice`);
    series.set(key, parseValue(sample[3]));
  }
  return {
    series,
    types,
    value(name: string): number {
      const value = series.get(name);
      if (value === undefined) throw new Error(`no series ${name} in the scrape`);
      return value;
    },
  };
}

function parseValue(raw: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  const value = Number(raw);
  if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`not a sample value: ${raw}`);
  return value;
}
