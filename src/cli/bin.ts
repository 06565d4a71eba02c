import { main } from "./main.js";
import { exitWhenDrained } from "./streams.js";

exitWhenDrained(await main(process.argv.slice(2)));
