// Modules of noop20.flow: plain synchronous functions (untyped, no schemas), so a run measures the
// engine's cost per step and nothing else. bench/serve/loadflow-child.mjs calls the same functions
// directly for the floor.
export function Start(x) {
  return x;
}

export function Noop(v) {
  return v + 1;
}

export function Join(...vs) {
  let sum = 0;
  for (const v of vs) sum += v;
  return sum;
}
