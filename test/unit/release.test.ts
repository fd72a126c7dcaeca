import {execFileSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {describe, expect, it} from 'vitest';
import {COMMANDS} from '../../src/bundle.js';
import {REPO} from '../support/cli.js';

// npm test builds first, and the build writes release/ (scripts/release.mjs).
const RELEASE = path.join(REPO, 'release');
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {version: string; homepage: string};
const ARCHIVE = `kubectl-superskyray-v${pkg.version}.tar.gz`;

interface Platform {
  selector?: {matchLabels?: Record<string, string>};
  uri?: string;
  sha256?: string;
  bin?: string;
  files?: Array<{from?: string; to?: string}>;
}
interface KrewPlugin {
  apiVersion?: string;
  kind?: string;
  metadata?: {name?: string};
  spec?: {version?: string; homepage?: string; shortDescription?: string; description?: string; caveats?: string; platforms?: Platform[]};
}

/** The archive's entries as `tar tv` lists them: mode, then the path. */
function entries(): Array<{mode: string; path: string}> {
  return execFileSync('tar', ['-tzvf', path.join(RELEASE, ARCHIVE)], {encoding: 'utf8'})
    .trim()
    .split('\n')
    .map((line) => {
      const fields = line.split(/\s+/);
      return {mode: fields[0]!, path: fields[fields.length - 1]!};
    });
}

describe('the release: bundle, launcher, archive and krew manifest', () => {
  const manifest = yaml.load(fs.readFileSync(path.join(RELEASE, 'plugin.yaml'), 'utf8')) as KrewPlugin;

  it('is a krew Plugin manifest as krew validates it', () => {
    expect(manifest.apiVersion).toBe('krew.googlecontainertools.github.com/v1alpha2');
    expect(manifest.kind).toBe('Plugin');
    // krew: the name is the plugin's, lower-case, and kubectl runs the bin as "kubectl <name>".
    expect(manifest.metadata?.name).toBe('superskyray');
    expect(manifest.spec?.version).toBe(`v${pkg.version}`);
    expect(manifest.spec?.version).toMatch(/^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    expect(manifest.spec?.homepage).toBe(pkg.homepage);
    expect(manifest.spec?.shortDescription?.length).toBeGreaterThan(0);
    expect(manifest.spec?.shortDescription!.length).toBeLessThanOrEqual(60);
    expect(manifest.spec?.caveats).toMatch(/Node\.js 20\.3 or newer/);
    const platforms = manifest.spec?.platforms ?? [];
    expect(platforms.map((p) => `${p.selector?.matchLabels?.os}/${p.selector?.matchLabels?.arch}`).sort()).toEqual(['darwin/amd64', 'darwin/arm64', 'linux/amd64', 'linux/arm64']);
    for (const p of platforms) {
      expect(Object.keys(p).sort()).toEqual(['bin', 'files', 'selector', 'sha256', 'uri']);
      expect(p.uri).toMatch(new RegExp(`^https://\\S+/${ARCHIVE.replaceAll('.', '\\.')}$`));
      expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(p.bin).toBe('kubectl-superskyray');
      expect(p.files).toEqual([{from: 'kubectl-superskyray/*', to: '.'}]);
    }
  });

  it('names the sha256 of the archive it ships', () => {
    const sha256 = createHash('sha256').update(fs.readFileSync(path.join(RELEASE, ARCHIVE))).digest('hex');
    for (const p of manifest.spec?.platforms ?? []) expect(p.sha256).toBe(sha256);
  });

  it('ships one folder with the executable launcher, the single-file bundle and its oclif configuration', () => {
    const listed = entries();
    expect(listed.map((e) => e.path).filter((p) => !p.endsWith('/')).sort()).toEqual([
      'kubectl-superskyray/kubectl-superskyray',
      'kubectl-superskyray/kubectl_complete-superskyray',
      'kubectl-superskyray/lib/cli.mjs',
      'kubectl-superskyray/package.json',
    ]);
    expect(listed.find((e) => e.path === 'kubectl-superskyray/kubectl-superskyray')?.mode).toBe('-rwxr-xr-x');
    expect(listed.find((e) => e.path === 'kubectl-superskyray/kubectl_complete-superskyray')?.mode).toBe('-rwxr-xr-x');
    // Fixed modes, whatever the umask of the machine that built it.
    expect(listed.find((e) => e.path === 'kubectl-superskyray/lib/cli.mjs')?.mode).toBe('-rw-r--r--');
    expect(listed.find((e) => e.path === 'kubectl-superskyray/lib/')?.mode).toBe('drwxr-xr-x');
    const released = JSON.parse(fs.readFileSync(path.join(RELEASE, 'kubectl-superskyray', 'package.json'), 'utf8')) as {version: string; oclif: {commands: unknown}};
    expect(released.version).toBe(pkg.version);
    expect(released.oclif.commands).toEqual({strategy: 'explicit', target: './lib/cli.mjs', identifier: 'COMMANDS'});
  });
});

describe('the bundle entry', () => {
  it('lists every command under src/commands, by its oclif id', () => {
    const dir = path.join(REPO, 'src', 'commands');
    const ids = (fs.readdirSync(dir, {recursive: true}) as string[]).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '').split(path.sep).join(':'));
    expect(Object.keys(COMMANDS).sort()).toEqual(ids.sort());
  });
});
