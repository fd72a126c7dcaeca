/** API objects as the sandbox holds them: plain JSON, read without trusting its shape. */

export type Json = null | boolean | number | string | Json[] | {[key: string]: Json};
export type JsonMap = {[key: string]: Json};

export const isMap = (v: unknown): v is JsonMap => typeof v === 'object' && v !== null && !Array.isArray(v);
/** The map at a field, or an empty one. */
export const map = (v: Json | undefined): JsonMap => (isMap(v) ? v : {});
/** The list at a field, or an empty one. */
export const list = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
/** The strings in the list at a field; anything else in it is dropped. */
export const strings = (v: Json | undefined): string[] => list(v).filter((x): x is string => typeof x === 'string');
/** A time as the API writes one: RFC 3339, to the second. */
export const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
export const now = (): string => rfc3339(Date.now());
