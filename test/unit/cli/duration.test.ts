import {describe, expect, it} from 'vitest';
import {parseDuration} from '../../../src/cli/duration.js';

describe('parseDuration', () => {
  it.each([
    {text: '30s', ms: 30_000},
    {text: '5m', ms: 300_000},
    {text: '1h30m', ms: 5_400_000},
    {text: '250ms', ms: 250},
    {text: '1.5s', ms: 1500},
    {text: '45', ms: 45_000},
    {text: '0', ms: 0},
    {text: '2m3s4ms', ms: 123_004},
  ])('$text is $ms ms', ({text, ms}) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5x', 'm', '1h 30m', '-5s', 'five'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });
});
