import {describe, expect, it} from 'vitest';
import {cli} from '../../support/cli.js';

// Bad usage is refused before any cluster is contacted: the contexts named here do not exist.
describe('kubectl superskyray scale: bad usage', () => {
  it.each([
    {name: 'a negative replica count', args: ['app', '--replicas', '-1'], message: /--replicas/},
    {name: 'a replica count that is not a whole number', args: ['app', '--replicas', '2.5'], message: /--replicas/},
    {name: 'nothing to change', args: ['app'], message: /^error: nothing to scale; pass --replicas N, --serve APP\.DEPLOYMENT=N, or both\n$/},
    {name: 'a --serve that is not APP.DEPLOYMENT=N', args: ['app', '--serve', 'fraud=4'], message: /^error: --serve "fraud=4" is not APP\.DEPLOYMENT=N; write it like --serve fraud\.Model=4\n$/},
    {name: 'a group that names no Ray kind', args: ['pods/app', '--replicas', '2'], message: /^error: "pods\/app" does not name a Ray app/},
  ])('refuses $name with one line and exit 2', async ({args, message}) => {
    const result = await cli(['scale', ...args, '--kubeconfig', '/nonexistent/kubeconfig', '--context', 'nowhere']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stdout).toBe('');
  });
});

describe('usage errors keep their substance', () => {
  it.each([
    {name: 'place without -f', args: ['place'], message: /^error: missing required flag --filename \(see "kubectl superskyray place --help"\)\n$/},
    {name: 'scale without its GROUP', args: ['scale'], message: /^error: missing argument GROUP \(rayservice\/NAME, raycluster\/NAME, rayjob\/NAME or NAME\) \(see "kubectl superskyray scale --help"\)\n$/},
    {name: '-o without its value', args: ['status', '-o'], message: /^error: Flag --output expects one of these values: table, wide, json, yaml \(see "kubectl superskyray status --help"\)\n$/},
    {name: '--replicas without its value', args: ['scale', 'app', '--replicas'], message: /^error: Flag --replicas expects a value \(see "kubectl superskyray scale --help"\)\n$/},
  ])('$name: one line that says what is missing, exit 2', async ({args, message}) => {
    const result = await cli([...args, '--kubeconfig', '/nonexistent/kubeconfig', '--context', 'nowhere']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
