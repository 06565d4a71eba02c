import { main } from "./main.js";

const code = await main(process.argv.slice(2));
// Exit once stdout and stderr have drained: a step that never settles (an in-process promise that
// ignored its timeout) must not keep the command alive after the run is over.
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
