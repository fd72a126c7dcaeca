#!/usr/bin/env node
// dist/: what `npm i -g` installs and bin/run.js runs. One esbuild bundle of src/bundle.ts and its
// dependencies, split where the sources load lazily (a command's run(), the Kubernetes client, ink), so
// that --help reads only oclif and the commands, and status adds only what it runs:
//
//   dist/bundle.js         oclif, every command's flags, COMMANDS and the hook for oclif's discovery
//   dist/chunks/*.js       the rest, each loaded by the first import() that needs it
//
// It also writes bundle-meta.json (esbuild's metafile, not shipped): which sources each file holds, for
// the test that --help loads neither the Kubernetes client nor ink.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import {bundleOptions, repo} from './bundle.mjs';

const out = path.join(repo, 'dist');
fs.rmSync(out, {recursive: true, force: true});

const result = await esbuild.build({
  ...bundleOptions,
  // The metafile's paths are relative to it: dist/bundle.js, node_modules/...
  absWorkingDir: repo,
  outdir: out,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  metafile: true,
});
fs.writeFileSync(path.join(repo, 'bundle-meta.json'), `${JSON.stringify(result.metafile)}\n`);
