import {describe, expect, it} from 'vitest';
import {parseQuantity} from '../../../src/placement/quantity.js';

describe('parseQuantity', () => {
  it.each([
    // cpu counts in millicores
    {q: '1', resource: 'cpu', want: 1000},
    {q: '0.1', resource: 'cpu', want: 100},
    {q: '100m', resource: 'cpu', want: 100},
    {q: '1.5', resource: 'cpu', want: 1500},
    {q: '2.0005', resource: 'cpu', want: 2001},
    {q: '250000u', resource: 'cpu', want: 250},
    {q: '1n', resource: 'cpu', want: 1},
    {q: 3, resource: 'cpu', want: 3000},
    {q: '.5', resource: 'cpu', want: 500},
    {q: '1e3', resource: 'cpu', want: 1_000_000},
    // the rest in whole units, rounded up
    {q: '1Ki', resource: 'memory', want: 1024},
    {q: '1.5Gi', resource: 'memory', want: 1.5 * 2 ** 30},
    {q: '128974848', resource: 'memory', want: 128974848},
    {q: '129e6', resource: 'memory', want: 129_000_000},
    {q: '129M', resource: 'memory', want: 129_000_000},
    {q: '123Mi', resource: 'memory', want: 123 * 2 ** 20},
    {q: '1E', resource: 'memory', want: 1e18},
    {q: '1E2', resource: 'memory', want: 100},
    {q: '100m', resource: 'memory', want: 1},
    {q: '4', resource: 'nvidia.com/gpu', want: 4},
    {q: '110', resource: 'pods', want: 110},
    {q: '-1', resource: 'memory', want: -1},
  ])('$q of $resource is $want', ({q, resource, want}) => {
    expect(parseQuantity(q, resource)).toBe(want);
  });

  it.each(['', 'abc', '1Gb', '1.2.3', '--1', '1 Gi'])('rejects %j', (q) => {
    expect(() => parseQuantity(q, 'memory')).toThrow(/is not a valid quantity/);
  });
});
