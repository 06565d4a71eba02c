/**
 * SIGINT/SIGTERM for the duration of a run: the first one calls `first` (stop gracefully), any later one
 * `again` (kill at once). Returns the function that removes the handlers.
 */
export function onTerminationSignals(first: (sig: NodeJS.Signals) => void, again: () => void): () => void {
  let count = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    count++;
    if (count === 1) first(sig);
    else again();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}
