/** API objects as the sandbox holds them: plain JSON, read without trusting its shape. */

export type Json = null | boolean | number | string | Json[] | {[key: string]: Json};
export type JsonMap = {[key: string]: Json};

export const isMap = (v: unknown): v is JsonMap => typeof v === 'object' && v !== null && !Array.isArray(v);
/** The map at a field, or an empty one. */
export const map = (v: Json | undefined): JsonMap => (isMap(v) ? v : {});
/** The list at a field, or an empty one. */
export const list = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
/** A timestamp as the API writes one: RFC 3339, to the second. */
export const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
