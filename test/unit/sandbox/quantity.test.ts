import {describe, expect, it} from 'vitest';
import {add, formatQuantity, parseQuantity, sameList, parseList} from '../../../src/sandbox/quantity.js';

const q = (text: string) => parseQuantity(text)!;

describe('quantities, printed back as the API server prints them', () => {
  const cases: Array<[string, string]> = [
    ['500m', '500m'],
    ['0.5', '500m'],
    ['1000m', '1'],
    ['2', '2'],
    ['1500', '1500'],
    ['1000', '1k'],
    ['1.5G', '1500M'],
    ['100Mi', '100Mi'],
    ['1.5Gi', '1536Mi'],
    ['1024', '1024'],
    ['2048Ki', '2Mi'],
    // Binary below 1Ki, or not whole, is printed in decimal.
    ['0.5Ki', '512'],
    ['1e3', '1e3'],
    ['0.1', '100m'],
    ['0.0000000001', '1n'],
    ['0', '0'],
    ['-250m', '-250m'],
  ];
  it.each(cases)('%s is %s', (text, printed) => {
    expect(formatQuantity(q(text))).toBe(printed);
  });

  it('refuses text that is not a quantity', () => {
    for (const bad of ['', 'lots', '1.5.5', '1Kb', 'Gi', '1 Gi']) expect(parseQuantity(bad)).toBeUndefined();
  });

  it('keeps the first format in a sum, unless the first is zero', () => {
    const sums: Array<[string, string, string]> = [
      ['1Gi', '512Mi', '1536Mi'],
      // Not whole in Ki: printed in plain bytes.
      ['512Mi', '1G', '1536870912'],
      ['1G', '1M', '1001M'],
      ['0', '1Gi', '1Gi'],
      ['500m', '1500m', '2'],
    ];
    for (const [a, b, sum] of sums) expect(formatQuantity(add(q(a), q(b)))).toBe(sum);
  });

  it('compares resource lists by value, not by text', () => {
    expect(sameList(parseList({cpu: '0.25', memory: '120Mi'}), parseList({cpu: '250m', memory: '125829120'}))).toBe(true);
    expect(sameList(parseList({cpu: '250m'}), parseList({cpu: '250m', memory: '1Mi'}))).toBe(false);
    expect(sameList({}, {})).toBe(true);
  });
});
