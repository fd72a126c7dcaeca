/**
 * Which kubeconfig files are in use, and the context names in them: what shell completion needs,
 * without the Kubernetes client, whose load would make every Tab wait about a second.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yaml from 'js-yaml';

/** The kubeconfig files in use, in kubectl's order of precedence. */
export function kubeconfigFiles(flag: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const list = (value: string | undefined) => (value ?? '').split(path.delimiter).filter((file) => file !== '');
  if (flag) return list(flag);
  const fromEnv = list(env.KUBECONFIG);
  if (fromEnv.length > 0) return fromEnv;
  return [path.join(env.HOME ?? os.homedir(), '.kube', 'config')];
}

/** The context names of the files, each once, in file order; a file that cannot be read adds none. */
export function contextNames(files: string[]): string[] {
  const names = new Set<string>();
  for (const file of files) {
    try {
      const doc = yaml.load(fs.readFileSync(file, 'utf8')) as {contexts?: Array<{name?: unknown}>} | undefined;
      for (const context of doc?.contexts ?? []) if (typeof context?.name === 'string') names.add(context.name);
    } catch {
      // Completion offers what it can read.
    }
  }
  return [...names];
}
