import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {REPO} from '../support/cli.js';

const SRC = path.join(REPO, 'src');
const files = (fs.readdirSync(SRC, {recursive: true}) as string[]).filter((f) => /\.tsx?$/.test(f));
const importsOf = (file: string) => [...fs.readFileSync(path.join(SRC, file), 'utf8').matchAll(/(?:from|import\()\s*'([^']+)'/g)].map((m) => path.join(path.dirname(file), m[1]!));

describe('the layout', () => {
  it('keeps the sandbox to itself: only the sandbox commands (and the bundle, through them) import it', () => {
    const importers = files.filter((f) => !f.startsWith(`sandbox${path.sep}`) && importsOf(f).some((i) => i.startsWith(`sandbox${path.sep}`)));
    expect(importers.sort()).toEqual([path.join('commands', 'sandbox', 'down.ts'), path.join('commands', 'sandbox', 'serve.ts'), path.join('commands', 'sandbox', 'up.ts')]);
  });

  it('keeps placement and kuberay pure: no I/O modules', () => {
    for (const f of files.filter((f) => f.startsWith(`placement${path.sep}`) || f.startsWith(`kuberay${path.sep}`))) {
      expect(fs.readFileSync(path.join(SRC, f), 'utf8'), f).not.toMatch(/from '(node:(fs|http|https|net|child_process)|@kubernetes\/client-node(\/[^']*)?)'|from '\.\.\/kube\/(client|fleet|watch)\.js'/);
    }
  });
});
