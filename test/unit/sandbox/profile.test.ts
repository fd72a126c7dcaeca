import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {DEFAULT_PROFILE, profileFor, readProfile} from '../../../src/sandbox/profile.js';
import {REPO} from '../../support/cli.js';

describe('sandbox profiles', () => {
  it('default to the real test clusters\' profile, so that a scenario sees the same capacity on both', () => {
    const file = path.join(REPO, 'test', 'env', 'profiles', 'default.yaml');
    expect(readProfile(fs.readFileSync(file, 'utf8'), file)).toEqual(DEFAULT_PROFILE);
  });

  it('give a cluster without an entry the default, and refuse what is not a profile', () => {
    expect(profileFor(DEFAULT_PROFILE, 'edge')).toBe(DEFAULT_PROFILE.default);
    expect(() => readProfile('onprem: {}', 'p.yaml')).toThrow('p.yaml: onprem needs a list of nodes');
    expect(() => readProfile('- a', 'p.yaml')).toThrow('p.yaml is not a map of cluster names to profiles');
    expect(() => profileFor(DEFAULT_PROFILE, 'Bad_Name')).toThrow('"Bad_Name" is not a valid cluster name');
  });
});
