#!/usr/bin/env node
// The release build, run by `npm run build` after dist/: one JavaScript file holding the whole CLI and
// its dependencies, a sh launcher named as kubectl looks for plugins, a .tar.gz of both, and the
// krew manifest for that archive (plugin.yaml at the root is its template).
//
//   release/kubectl-superskyray/{kubectl-superskyray, kubectl_complete-superskyray, lib/cli.mjs, package.json}
//   release/kubectl-superskyray-vX.Y.Z.tar.gz
//   release/plugin.yaml
//
// The archive is reproducible (sorted entries, fixed modes, times and owners, gzip without a name or
// time, written in JavaScript rather than by tar(1)), so the same sources give the same sha256 on any
// machine.
import {createHash} from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as esbuild from 'esbuild';
import yaml from 'js-yaml';
import {bundleOptions, repo} from './bundle.mjs';

const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
const version = `v${pkg.version}`;
const out = path.join(repo, 'release');
const dir = path.join(out, 'kubectl-superskyray');
const archive = `kubectl-superskyray-${version}.tar.gz`;
// Where the release's archive is published; the krew manifest points there.
const releases = process.env.SUPERSKYRAY_RELEASE_URL ?? `${pkg.homepage}/releases/download/${version}`;

fs.rmSync(out, {recursive: true, force: true});
fs.mkdirSync(path.join(dir, 'lib'), {recursive: true});

await esbuild.build({...bundleOptions, outfile: path.join(dir, 'lib', 'cli.mjs')});

// oclif reads its configuration from here; the commands come from the bundle itself.
const oclif = {
  ...pkg.oclif,
  commands: {strategy: 'explicit', target: './lib/cli.mjs', identifier: 'COMMANDS'},
  hooks: {command_not_found: {target: './lib/cli.mjs', identifier: 'commandNotFound'}},
};
fs.writeFileSync(
  path.join(dir, 'package.json'),
  `${JSON.stringify({name: pkg.name, version: pkg.version, description: pkg.description, license: pkg.license, type: 'module', engines: pkg.engines, oclif}, null, 2)}\n`,
);

/** A sh launcher: kubectl runs kubectl-NAME as "kubectl NAME", and kubectl_complete-NAME for its Tab. */
function launcher(file, what, args) {
  const text = `#!/bin/sh
# ${file}: ${what}. It needs Node.js 20.3 or newer.
set -e
self=$0
# krew and package managers link to this file: find the folder it really lives in.
while [ -L "$self" ]; do
  link=$(readlink "$self")
  case $link in
    /*) self=$link ;;
    *) self=$(dirname "$self")/$link ;;
  esac
done
here=$(CDPATH= cd -P -- "$(dirname -- "$self")" && pwd)
if ! command -v node >/dev/null 2>&1; then
  echo "error: kubectl-superskyray needs Node.js 20.3 or newer, and found no node on the PATH; install Node.js" >&2
  exit 1
fi
exec node "$here/lib/cli.mjs"${args} "$@"
`;
  fs.writeFileSync(path.join(dir, file), text);
  fs.chmodSync(path.join(dir, file), 0o755);
}
launcher('kubectl-superskyray', 'kubectl runs this as "kubectl superskyray"', '');
launcher('kubectl_complete-superskyray', 'kubectl (1.26+) runs this to complete "kubectl superskyray ..." on Tab', ' __complete');

/**
 * A ustar archive of `root`'s files under `top/`, written here rather than by tar(1): the same bytes
 * on every machine (sorted entries, fixed modes, owners and times), where GNU and BSD tar differ and
 * modes would follow the umask.
 */
function tarOf(root, top) {
  const entries = [];
  const walk = (dir, rel) => {
    entries.push({name: `${rel}/`, dir: true});
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      if (fs.statSync(full).isDirectory()) walk(full, `${rel}/${name}`);
      else entries.push({name: `${rel}/${name}`, data: fs.readFileSync(full), executable: (fs.statSync(full).mode & 0o100) !== 0});
    }
  };
  walk(root, top);
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  const blocks = [];
  for (const e of entries) {
    const header = Buffer.alloc(512);
    const field = (offset, length, value) => header.write(value, offset, length, 'ascii');
    const octal = (offset, length, n) => field(offset, length, `${n.toString(8).padStart(length - 1, '0')}\0`);
    if (Buffer.byteLength(e.name) > 100) throw new Error(`${e.name}: name too long for the archive`);
    field(0, 100, e.name);
    octal(100, 8, e.dir || e.executable ? 0o755 : 0o644);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, e.dir ? 0 : e.data.length);
    octal(136, 12, 0);
    field(148, 8, '        ');
    field(156, 1, e.dir ? '5' : '0');
    field(257, 6, 'ustar\0');
    field(263, 2, '00');
    field(265, 32, 'root');
    field(297, 32, 'root');
    let sum = 0;
    for (const byte of header) sum += byte;
    field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(header);
    if (!e.dir) {
      blocks.push(e.data);
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad > 0) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const gzipped = zlib.gzipSync(tarOf(dir, 'kubectl-superskyray'), {level: 9});
// The header's OS byte says which system wrote it; say Unix everywhere, for the same sha256.
gzipped[9] = 3;
fs.writeFileSync(path.join(out, archive), gzipped);
const sha256 = createHash('sha256').update(gzipped).digest('hex');

const manifest = yaml.load(fs.readFileSync(path.join(repo, 'plugin.yaml'), 'utf8'));
manifest.spec.version = version;
manifest.spec.homepage = pkg.homepage;
for (const platform of manifest.spec.platforms) {
  platform.uri = `${releases}/${archive}`;
  platform.sha256 = sha256;
  // The archive holds one folder; krew moves its contents into the plugin's own folder.
  platform.files = [{from: 'kubectl-superskyray/*', to: '.'}];
}
fs.writeFileSync(
  path.join(out, 'plugin.yaml'),
  `# krew manifest for ${archive}, written by scripts/release.mjs from the plugin.yaml template.\n${yaml.dump(manifest, {lineWidth: 120})}`,
);
const size = (fs.statSync(path.join(dir, 'lib', 'cli.mjs')).size / 1e6).toFixed(1);
console.log(`release: ${path.relative(repo, path.join(out, archive))} (bundle ${size} MB, sha256 ${sha256})`);
