import yaml from 'js-yaml';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

/** Machine-readable output: pretty JSON, or YAML the way kubectl prints it. */
export function renderDocument(data: unknown, format: 'json' | 'yaml'): string {
  if (format === 'json') return JSON.stringify(data, null, 2) + '\n';
  return yaml.dump(data, {noRefs: true, lineWidth: -1, sortKeys: false});
}
