import {describe, expect, it} from 'vitest';
import {parseClaims} from '../../../src/cli/base-command.js';
import {InputError} from '../../../src/errors.js';

describe('--claim HOME=REMOTE', () => {
  it('maps each home claim to the one remote workers mount, the last of a name winning', () => {
    expect(parseClaims(['datasets=datasets-replica', 'models=a', 'models=b'])).toEqual({datasets: 'datasets-replica', models: 'b'});
  });

  it.each(['datasets', 'datasets=', '=replica', 'a=b=c'])('refuses %s as bad input, naming the form', (value) => {
    expect(() => parseClaims([value])).toThrow(InputError);
    expect(() => parseClaims([value])).toThrow(`--claim ${value} is not HOME=REMOTE`);
  });
});
