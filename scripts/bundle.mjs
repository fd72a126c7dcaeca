// The esbuild settings both installs share: scripts/build.mjs bundles dist/ (what `npm i -g` ships)
// with them, scripts/release.mjs the release's single file. Loading one minified file (or a few) is
// what makes start-up fast: Node resolves, reads and compiles each module of node_modules on its own,
// and @oclif/core with @kubernetes/client-node is hundreds of them.
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Left out of the bundle: ink's devtools are for developing ink itself (and need a package that is
// not a dependency); oclif requires TypeScript only to run a plugin from its .ts sources, and copes
// with its absence. TypeScript alone would be 3.6 MB of the bundle's 6.4, parsed at every start.
const leftOut = {
  name: 'left-out',
  setup(build) {
    build.onResolve({filter: /^\.\/devtools\.js$/}, (args) => (args.importer.includes(`${path.sep}ink${path.sep}`) ? {path: 'ink-devtools', namespace: 'left-out'} : undefined));
    build.onResolve({filter: /^typescript$/}, () => ({path: 'typescript', namespace: 'left-out'}));
    build.onLoad({filter: /^ink-devtools$/, namespace: 'left-out'}, () => ({contents: 'export {};', loader: 'js'}));
    build.onLoad({filter: /^typescript$/, namespace: 'left-out'}, () => ({contents: "throw Object.assign(new Error('typescript is not in the bundle'), {code: 'MODULE_NOT_FOUND'});", loader: 'js'}));
  },
};

// client-node's config.js imports its generated API (gen/index.js: every API class and model, 385 KB
// minified) for the two names KubeConfig.makeApiClient uses. esbuild cannot drop the rest: the index
// re-exports it with `export *`, and where a module is loaded lazily (the release's single file) it
// keeps every module such an index names. So config.js gets those two names from the modules that
// define them. Should client-node's config.js take another name from the index, or move one, the build
// fails ("No matching export"), rather than running without it.
const generatedApiNames = {
  name: 'client-node-generated-api',
  setup(build) {
    const config = `${path.sep}@kubernetes${path.sep}client-node${path.sep}dist${path.sep}config.js`;
    build.onResolve({filter: /^\.\/gen\/index\.js$/}, (args) => (args.importer.endsWith(config) ? {path: path.join(args.resolveDir, 'gen', 'index.js'), namespace: 'client-node-generated-api'} : undefined));
    build.onLoad({filter: /.*/, namespace: 'client-node-generated-api'}, (args) => ({
      contents: "export {createConfiguration} from './configuration.js';\nexport {ServerConfiguration} from './servers.js';\n",
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};

// What client-node's KubeConfig imports for a kubeconfig's rarer features, with the names it uses:
// a proxy-url of socks5 (socks-proxy-agent), an auth-provider of azure or gcp (jsonpath-plus), or oidc
// (openid-client), and applyToFetchOptions and makeApiClient, which this tool never calls (node-fetch,
// and its URL parser's 260 KB table). Evaluating them all took as long as the rest of the Kubernetes client.
// Bundled behind a facade, each is evaluated the first time one of its functions is called, and is
// otherwise the same module. A new use in client-node of a name missing here fails the build
// (logOverride below), rather than reading as undefined at run time.
const lazyImports = {
  'node-fetch': ['default', 'Headers'],
  'socks-proxy-agent': ['SocksProxyAgent'],
  'jsonpath-plus': ['JSONPath'],
  'openid-client': ['discovery', 'refreshTokenGrant'],
};

const lazyFacades = {
  name: 'lazy-facades',
  setup(build) {
    const filter = new RegExp(`^(${Object.keys(lazyImports).join('|')})$`);
    build.onResolve({filter}, (args) => {
      if (args.namespace === 'lazy-facade' || !args.importer.includes(`${path.sep}@kubernetes${path.sep}client-node${path.sep}`)) return undefined;
      return {path: args.path, namespace: 'lazy-facade', pluginData: {resolveDir: args.resolveDir}};
    });
    build.onLoad({filter: /.*/, namespace: 'lazy-facade'}, (args) => {
      // require(), not import: esbuild evaluates a require()d module only when that call runs.
      const load = `let loaded; const load = () => (loaded ??= require(${JSON.stringify(args.path)}));`;
      // Called or constructed, as the real export would be; a constructed one is the real class's instance.
      const exports = lazyImports[args.path].map((name) => `export ${name === 'default' ? 'default function lazyDefault' : `function ${name}`}(...args) { return new.target ? Reflect.construct(load().${name}, args) : load().${name}(...args); }`);
      return {contents: [load, ...exports].join('\n'), loader: 'js', resolveDir: args.pluginData.resolveDir};
    });
  },
};

/** esbuild options for a Node ESM bundle of src/bundle.ts; the caller adds where it goes and how. */
export const bundleOptions = {
  entryPoints: [path.join(repo, 'src', 'bundle.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [leftOut, generatedApiNames, lazyFacades],
  logOverride: {'import-is-undefined': 'error'},
  banner: {
    js: [
      `{ const [major, minor] = process.versions.node.split('.').map(Number); if (major < 20 || (major === 20 && minor < 3)) { process.stderr.write('error: kubectl-superskyray needs Node.js 20.3 or newer, and found ' + process.version + '; install a newer Node.js\\n'); process.exit(1); } }`,
      // Bundled CommonJS modules (oclif) call require() for Node's own modules.
      `import {createRequire as __superskyrayRequire} from 'node:module'; const require = __superskyrayRequire(import.meta.url);`,
    ].join('\n'),
  },
};
