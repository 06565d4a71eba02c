/** Objects keyed by the user's names (record fields, step ids, pools, modules). */

/** `obj[k] = v`, also for k = "__proto__" (which would otherwise set the prototype, not a field). */
export function setOwn<V>(obj: Record<string, V>, k: string, v: V): void {
  if (k === "__proto__")
    Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}
