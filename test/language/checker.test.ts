import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMPORTS, check, cleanup, compileIn, project } from "./helpers.js";

const MODULES = `${IMPORTS}
const User = z.object({ id: z.string(), name: z.string(), email: z.string().optional() });
export const GetUser = module({ input: [z.string()], output: User, run: async (id) => ({ id, name: "n" }) });
export const GetOrders = module({
  input: [z.string(), z.number().int().optional()],
  output: z.array(z.object({ sku: z.string(), qty: z.number().int() })),
  run: async (id, limit) => [{ sku: id, qty: limit ?? 1 }],
});
export const BuildProfile = module({
  input: [User, z.array(z.object({ sku: z.string() }))],
  run: (user, orders) => ({ user: user.name, orders: orders.length }),
});
export const Judge = module({ input: [z.string(), z.number()], output: z.number(), run: (s, k) => s.length * k });
export const Limited = module({ input: [z.string()], run: (s) => s, concurrency: 2, throttle: "5/s" });
export function Plain(...xs: unknown[]) { return xs; }
export const notAModule = 42;
`;

let dir: string;
beforeAll(() => {
  dir = project({ "modules.ts": MODULES });
});
afterAll(cleanup);

async function errs(body: string, inputs: Record<string, string> = {}): Promise<string> {
  const r = await compileIn(dir, `use "./modules.ts"\n${body}`, { inputs });
  return r.text;
}

describe("checker: names", () => {
  it("accepts a well-typed flow and compiles it", async () => {
    const r = await compileIn(
      dir,
      `use "./modules.ts"
in userId: String
user = GetUser(userId)
orders = GetOrders(user.id, 5)
profile = BuildProfile(user, orders)
out profile`,
      { inputs: { userId: "7" } },
    );
    expect(r.text).toBe("");
    expect(r.graph?.steps.map((s) => s.id)).toEqual(["user", "orders", "profile"]);
  });

  it("unknown module, with a suggestion", async () => {
    expect(await errs('user = GetUsr("1")')).toMatchInlineSnapshot(`
      "main.flow:2:8: error: unknown module GetUsr
      user = GetUsr("1")
             ^~~~~~
      hint: did you mean GetUser?"
    `);
  });

  it("unknown variable, with a suggestion", async () => {
    expect(await errs('user = GetUser("1")\norders = GetOrders(usr.id)')).toMatchInlineSnapshot(`
      "main.flow:3:20: error: unknown name usr
      orders = GetOrders(usr.id)
                         ^~~
      hint: did you mean user?"
    `);
  });

  it("duplicate assignment", async () => {
    expect(await errs('a = GetUser("1")\na = GetUser("2")')).toMatchInlineSnapshot(`
      "main.flow:3:1: error: a is already defined on line 2
      a = GetUser("2")
      ^
      hint: every name is assigned once; rename one of them"
    `);
  });

  it("a value called like a module, and a module used like a value", async () => {
    expect(await errs("n = 5\nx = n(1)\ny = Plain(GetUser)")).toMatchInlineSnapshot(`
      "main.flow:3:5: error: n is a value, not a module
      x = n(1)
          ^
      hint: only modules from use files and built-ins can be called
      main.flow:4:11: error: GetUser is a module, not a value
      y = Plain(GetUser)
                ^~~~~~~
      hint: call it: GetUser(...)"
    `);
  });

  it("a name in out that is not defined", async () => {
    expect(await errs('user = GetUser("1")\nout usr')).toMatchInlineSnapshot(`
      "main.flow:3:5: error: unknown name usr in out
      out usr
          ^~~
      hint: did you mean user?"
    `);
  });
});

describe("checker: types", () => {
  it("wrong argument type", async () => {
    expect(await errs("user = GetUser(5)")).toMatchInlineSnapshot(`
      "main.flow:2:16: error: GetUser expects String, got Int
      user = GetUser(5)
                     ^"
    `);
  });

  it("wrong argument type for one of several parameters, with the reason", async () => {
    expect(await errs('u = GetUser("1")\np = BuildProfile(u, "orders")\nq = BuildProfile({ id: "1" }, [])'))
      .toMatchInlineSnapshot(`
      "main.flow:3:21: error: BuildProfile expects List<{ sku: String }> as argument 2, got String
      p = BuildProfile(u, "orders")
                          ^~~~~~~~
      main.flow:4:18: error: BuildProfile expects { id: String, name: String, email: Optional<String> } as argument 1, got { id: String }
      q = BuildProfile({ id: "1" }, [])
                       ^~~~~~~~~~~
      hint: field name is missing"
    `);
  });

  it("wrong argument count", async () => {
    expect(await errs('a = GetUser()\nb = GetUser("1", "2")\nc = GetOrders("1")')).toMatchInlineSnapshot(`
      "main.flow:2:5: error: GetUser expects 1 argument, got 0
      a = GetUser()
          ^~~~~~~~~
      main.flow:3:18: error: GetUser expects 1 argument, got 2
      b = GetUser("1", "2")
                       ^~~"
    `);
  });

  it("an optional field passed where a value is required", async () => {
    expect(await errs('u = GetUser("1")\nv = GetUser(u.email)')).toMatchInlineSnapshot(`
      "main.flow:3:13: error: GetUser expects String, got Optional<String>
      v = GetUser(u.email)
                  ^~~~~~~
      hint: the value may be missing (it is Optional)"
    `);
  });

  it("a field that the type does not have", async () => {
    expect(await errs('u = GetUser("1")\nv = GetUser(u.nme)\nw = GetUser(u.id.x)')).toMatchInlineSnapshot(`
      "main.flow:3:15: error: u has no field nme
      v = GetUser(u.nme)
                    ^~~
      hint: did you mean name?
      main.flow:4:18: error: u.id has no field x
      w = GetUser(u.id.x)
                       ^
      hint: its type is String"
    `);
  });

  it("unknown type names and wrong type arguments", async () => {
    expect(await errs("in a: Strng\nin b: List\nin c: Int<String>")).toMatchInlineSnapshot(`
      "main.flow:2:4: error: input a is required, but no value was given
      in a: Strng
         ^
      hint: pass it with --input a=..., or give it a default: in a: Strng = ...
      main.flow:2:7: error: unknown type Strng
      in a: Strng
            ^~~~~
      hint: did you mean String?
      main.flow:3:4: error: input b is required, but no value was given
      in b: List
         ^
      hint: pass it with --input b=..., or give it a default: in b: List = ...
      main.flow:3:7: error: List needs exactly one type argument, as in List<String>
      in b: List
            ^~~~
      main.flow:4:4: error: input c is required, but no value was given
      in c: Int<String>
         ^
      hint: pass it with --input c=..., or give it a default: in c: Int<String> = ...
      main.flow:4:7: error: Int takes no type argument
      in c: Int<String>
            ^~~~~~~~~~~"
    `);
  });

  it("a default that does not match the declared type", async () => {
    expect(await errs('in n: Int = "five"')).toMatchInlineSnapshot(`
      "main.flow:2:13: error: the default of n must be Int, got String
      in n: Int = "five"
                  ^~~~~~"
    `);
  });

  it("map: the list, the module and the per-item types are checked", async () => {
    expect(
      await errs(
        'a = map("not a list", Judge, 2)\nb = map(["x"], Judge)\nc = map([1, 2], Judge, 3)\nd = map(["x"], Judge(1), 2)\ne = map(["x"], file, 2)',
      ),
    ).toMatchInlineSnapshot(`
      "main.flow:2:9: error: map needs a list, got String
      a = map("not a list", Judge, 2)
              ^~~~~~~~~~~~
      main.flow:3:5: error: Judge expects 2 arguments, but map passes 1 (the item)
      b = map(["x"], Judge)
          ^~~~~~~~~~~~~~~~~
      hint: pass the other arguments after the module: map(items, Judge, ...)
      main.flow:4:9: error: Judge expects String for each item, got items of Int
      c = map([1, 2], Judge, 3)
              ^~~~~~
      main.flow:5:16: error: pass the module by name, without calling it
      d = map(["x"], Judge(1), 2)
                     ^~~~~~~~
      hint: write: map(items, Judge)
      main.flow:6:16: error: map runs a module from a use file for each item; file is a built-in
      e = map(["x"], file, 2)
                     ^~~~"
    `);
  });

  it("exec and sh arguments", async () => {
    expect(await errs('a = exec()\nb = exec("echo", { a: 1 })\nc = sh(cmd)\nd = sh("echo", "x")\ncmd = "ls"'))
      .toMatchInlineSnapshot(`
      "main.flow:2:5: error: exec needs at least the program to run
      a = exec()
          ^~~~~~
      hint: write: exec("cc", "-c", file("a.c"))
      main.flow:3:18: error: exec arguments must be text, numbers, files or lists of them, got { a: Int }
      b = exec("echo", { a: 1 })
                       ^~~~~~~~
      hint: turn it into text with "\${...}"
      main.flow:4:8: error: sh needs a command template: a string literal
      c = sh(cmd)
             ^~~
      hint: write: sh("sort \${file("in.txt")} > \${output("out.txt")}")
      main.flow:5:16: error: sh takes a single command template; put values into it with \${...}
      d = sh("echo", "x")
                     ^~~"
    `);
  });
});

describe("checker: inputs", () => {
  it("a missing required input, a bad value and an unknown input", async () => {
    expect(
      await errs("in userId: String\nin n: Int\nin ok: Bool\nin tags: List<String>", {
        n: "five",
        ok: "maybe",
        tags: '["a", 2]',
        usrId: "1",
      }),
    ).toMatchInlineSnapshot(`
      "main.flow:2:4: error: input userId is required, but no value was given
      in userId: String
         ^~~~~~
      hint: pass it with --input userId=..., or give it a default: in userId: String = ...
      main.flow:2:4: error: unknown input "usrId" was given
      in userId: String
         ^~~~~~
      hint: did you mean userId?
      main.flow:3:4: error: input n: "five" is not a whole number
      in n: Int
         ^
      hint: n is declared as Int
      main.flow:4:4: error: input ok: "maybe" is not true or false
      in ok: Bool
         ^~
      hint: ok is declared as Bool
      main.flow:5:4: error: input tags: expected a string at [1], got 2
      in tags: List<String>
         ^~~~
      hint: tags is declared as List<String>"
    `);
  });
});

describe("checker: options", () => {
  it("unknown options, with suggestions, and duplicates", async () => {
    expect(await errs('a = GetUser("1") with retries: 2, timout: 1s, retry: 1, retry: 2'))
      .toMatchInlineSnapshot(`
      "main.flow:2:23: error: unknown option retries
      a = GetUser("1") with retries: 2, timout: 1s, retry: 1, retry: 2
                            ^~~~~~~
      hint: did you mean retry?
      main.flow:2:35: error: unknown option timout
      a = GetUser("1") with retries: 2, timout: 1s, retry: 1, retry: 2
                                        ^~~~~~
      hint: did you mean timeout?
      main.flow:2:57: error: option retry is given twice
      a = GetUser("1") with retries: 2, timout: 1s, retry: 1, retry: 2
                                                              ^~~~~"
    `);
  });

  it("option values of the wrong type", async () => {
    expect(
      await errs(
        'a = GetUser("1") with retry: 1.5, timeout: 5, priority: urgent, cache: "yes", estimate: 20/s, env: "HOME", version: 2, cpus: -1',
      ),
    ).toMatchInlineSnapshot(`
      "main.flow:2:30: error: retry must be a whole number of at least 0, got the number 1.5
      a = GetUser("1") with retry: 1.5, timeout: 5, priority: urgent, cache: "yes", estimate: 20/s, env: "HOME", version: 2, cpus: -1
                                   ^~~
      main.flow:2:44: error: timeout must be a duration, like 2s, got the number 5
      a = GetUser("1") with retry: 1.5, timeout: 5, priority: urgent, cache: "yes", estimate: 20/s, env: "HOME", version: 2, cpus: -1
                                                 ^
      hint: add a unit: 5s or 5ms
      main.flow:2:57: error: priority must be a number or low, normal, high, got urgent
      a = GetUser("1") with retry: 1.5, timeout: 5, priority: urgent, cache: "yes", estimate: 20/s, env: "HOME", version: 2, cpus: -1
                                                              ^~~~~~
      main.flow:2:72: error: cache must be true or false, got the string "yes"
      a = GetUser("1") with retry: 1.5, timeout: 5, priority: urgent, cache: "yes", estimate: 20/s, env: "HOME", version: 2, cpus: -1
                                                                             ^~~~~
      main.flow:2:89: error: estimate must be a duration, like 30s, got a rate
      a = GetUser("1") with retry: 1.5, timeout: 5, priority: urgent, cache: "yes", estimate: 20/s, env: "HOME", version: 2, cpus: -1
                                                                                              ^~~~
      main.flow:2:100: error: env must be a list of environment variable names, like ["HOME", "API_TOKEN"], got the string "HOME"
      a = GetUser("1") with retry: 1.5, timeout: 5, priority: urgent, cache: "yes", estimate: 20/s, env: "HOME", version: 2, cpus: -1
                                                                                                         ^~~~~~
      main.flow:2:117: error: version must be a string, like "2", got the number 2
      a = GetUser("1") with retry: 1.5, timeout: 5, priority: urgent, cache: "yes", estimate: 20/s, env: "HOME", version: 2, cpus: -1
                                                                                                                          ^
      main.flow:2:126: error: cpus must be a whole number of at least 0, got the number -1
      a = GetUser("1") with retry: 1.5, timeout: 5, priority: urgent, cache: "yes", estimate: 20/s, env: "HOME", version: 2, cpus: -1
                                                                                                                                   ^~"
    `);
  });

  it("backoff without retry, concurrency 0, a rate of 0/s, an undeclared pool", async () => {
    expect(
      await errs(
        'pool net = 2\na = GetUser("1") with backoff: 200ms\nb = GetUser("2") with concurrency: 0, throttle: 0/s, pool: nte\nc = GetUser("3") with retry: 1, backoff: { initial: 1s, mx: 2s }',
      ),
    ).toMatchInlineSnapshot(`
      "main.flow:3:23: error: backoff has no effect without retry
      a = GetUser("1") with backoff: 200ms
                            ^~~~~~~~~~~~~~
      hint: add retry: 3 (the number of extra attempts)
      main.flow:4:36: error: concurrency must be a whole number of at least 1, got the number 0
      b = GetUser("2") with concurrency: 0, throttle: 0/s, pool: nte
                                         ^
      main.flow:4:49: error: a rate needs a whole number of calls, at least 1, per period; got 0/s
      b = GetUser("2") with concurrency: 0, throttle: 0/s, pool: nte
                                                      ^~~
      hint: write it like 20/s or 100/1min; to run one at a time use concurrency: 1
      main.flow:4:60: error: unknown pool nte
      b = GetUser("2") with concurrency: 0, throttle: 0/s, pool: nte
                                                                 ^~~
      hint: did you mean net?
      main.flow:5:57: error: unknown backoff field mx
      c = GetUser("3") with retry: 1, backoff: { initial: 1s, mx: 2s }
                                                              ^~
      hint: did you mean max?"
    `);
  });

  it("conflicting per-module limits, with on a value, and a pool of no capacity", async () => {
    expect(
      await errs(
        'pool p = 0\na = GetUser("1") with concurrency: 2\nb = GetUser("2") with concurrency: 3\nn = 5 with retry: 2',
      ),
    ).toMatchInlineSnapshot(`
      "main.flow:2:10: error: pool p needs a capacity of at least 1, got the number 0
      pool p = 0
               ^
      hint: write: pool p = 4
      main.flow:4:36: error: concurrency of module GetUser is already set differently on line 3
      b = GetUser("2") with concurrency: 3
                                         ^
      hint: module limits hold across every step of GetUser; set it once
      main.flow:5:7: error: with options apply to steps, but n is a value, not a step
      n = 5 with retry: 2
            ^~~~~~~~~~~~~
      hint: options go on calls of modules, exec(), sh() or map()"
    `);
  });

  it("partial on a step that uses no map is a warning", async () => {
    expect(await errs('a = GetUser("1") with partial: true')).toMatchInlineSnapshot(`
      "main.flow:2:23: warning: partial has no effect: a does not use the value of a map
      a = GetUser("1") with partial: true
                            ^~~~~~~~~~~~~"
    `);
  });
});

describe("checker: files and outputs", () => {
  it("output paths that are absolute or escape the project, outputs outside commands, two producers", async () => {
    expect(
      await errs(
        'a = exec("touch", output("/etc/passwd"))\nb = exec("touch", output("../x"))\nc = GetUser(output("u"))\nd = exec("touch", output("out/x"))\ne = sh("touch ${output("out/./x")}")\nf = exec("touch", output(d))',
      ),
    ).toMatchInlineSnapshot(`
      "main.flow:2:26: error: output path "/etc/passwd" is absolute
      a = exec("touch", output("/etc/passwd"))
                               ^~~~~~~~~~~~~
      hint: outputs are written inside the project: use a relative path like out/result.txt
      main.flow:3:26: error: output path "../x" escapes the project directory
      b = exec("touch", output("../x"))
                               ^~~~~~
      hint: outputs are written inside the project: use a relative path like out/result.txt
      main.flow:4:13: error: output() declares a file that a command writes; use it in the arguments of exec() or sh()
      c = GetUser(output("u"))
                  ^~~~~~~~~~~
      main.flow:6:24: error: out/x is already written by step d (line 5)
      e = sh("touch \${output("out/./x")}")
                             ^~~~~~~~~
      hint: every file must have one producer
      main.flow:7:26: error: the path of output must be a string known before the run
      f = exec("touch", output(d))
                               ^
      hint: use a literal, or interpolate inputs: output("out/\${name}.txt")"
    `);
  });

  it("reading a produced file with file() instead of using the step", async () => {
    expect(await errs('o = exec("touch", output("out/x.txt"))\nr = exec("cat", file("out/x.txt"))'))
      .toMatchInlineSnapshot(`
      "main.flow:3:22: error: out/x.txt is written by step o; reading it with file() does not wait for that step
      r = exec("cat", file("out/x.txt"))
                           ^~~~~~~~~~~
      hint: use o (its value is the file) instead of file("out/x.txt")"
    `);
  });
});

describe("checker: cycles", () => {
  it("a cycle of steps, pointing at the first step", async () => {
    expect(await errs("a = Plain(c)\nb = Plain(a)\nc = Plain(b)")).toMatchInlineSnapshot(`
      "main.flow:2:1: error: cycle: a -> b -> c -> a
      a = Plain(c)
      ^
      hint: a step cannot depend on its own result; break one of these uses"
    `);
  });

  it("a step that uses itself, and a cycle of values", async () => {
    expect(await errs("s = Plain(s)\nx = [y]\ny = { v: x }")).toMatchInlineSnapshot(`
      "main.flow:2:1: error: cycle: s -> s
      s = Plain(s)
      ^
      hint: a step cannot depend on its own result; break one of these uses
      main.flow:4:1: error: cycle: y -> x -> y
      y = { v: x }
      ^
      hint: a value cannot depend on itself; break one of these uses"
    `);
  });
});

describe("checker: modules", () => {
  it("a use file that does not exist, with a suggestion", async () => {
    const r = await compileIn(dir, 'use "./modules.tss"\nuse "./nope.ts"\na = GetUser("1")');
    expect(r.text).toMatchInlineSnapshot(`
      "main.flow:1:5: error: cannot find module file ./modules.tss
      use "./modules.tss"
          ^~~~~~~~~~~~~~~
      hint: did you mean modules.ts?
      main.flow:2:5: error: cannot find module file ./nope.ts
      use "./nope.ts"
          ^~~~~~~~~~~"
    `);
  });

  it("a use file that fails to import is a diagnostic at the use line", async () => {
    const d = project({ "bad.ts": 'throw new Error("boom at load");\n', "syntax.ts": "export const = ;\n" });
    const r = await compileIn(d, 'use "./bad.ts"\nuse "./syntax.ts"\nx = 1');
    expect(r.graph).toBeUndefined();
    expect(r.diagnostics.map((x) => [x.line, x.code])).toEqual([
      [1, "module-load"],
      [2, "module-load"],
    ]);
    expect(r.diagnostics[0]!.message).toBe("cannot load ./bad.ts: boom at load");
  });

  it("the same module exported by two files, and a bad module definition", async () => {
    const d = project({
      "a.ts": `${IMPORTS}\nexport function Same() { return 1; }\nexport const Bad = module({ input: [z.string()], run: (s) => s, concurrency: 0, throttle: "fast" });`,
      "b.ts": "export function Same() { return 2; }\nexport function map() { return 3; }\n",
      "c.ts": "export const nothing = 1;\n",
    });
    const r = await compileIn(d, 'use "./a.ts"\nuse "./b.ts"\nuse "./c.ts"\nx = Same()');
    expect(r.text).toMatchInlineSnapshot(`
      "main.flow:1:5: error: module Bad: concurrency must be a whole number of at least 1, got 0
      use "./a.ts"
          ^~~~~~~~
      main.flow:1:5: error: module Bad: throttle "fast" is not a rate
      use "./a.ts"
          ^~~~~~~~
      hint: write it like "20/s" or "100/1min"
      main.flow:2:5: error: module Same is exported by both a.ts and b.ts
      use "./b.ts"
          ^~~~~~~~
      hint: rename one of the exports
      main.flow:2:5: warning: export map of ./b.ts cannot be called: map() is a built-in
      use "./b.ts"
          ^~~~~~~~
      hint: rename the export
      main.flow:3:5: warning: ./c.ts exports no functions or module(...) definitions
      use "./c.ts"
          ^~~~~~~~"
    `);
  });
});

describe("checker without modules", () => {
  it("reports every error of a file at once, in source order", async () => {
    const text = await check('x = "unterminated\ny = Nope(1)\nz = [1, 2\nw = exec("ls") with retry: -1');
    expect(text.match(/error:/g)).toHaveLength(4);
    expect(text).toMatchInlineSnapshot(`
      "main.flow:1:5: error: unterminated string
      x = "unterminated
          ^~~~~~~~~~~~~
      hint: close it with " on the same line
      main.flow:2:5: error: unknown module Nope
      y = Nope(1)
          ^~~~
      hint: import modules with use "./modules.ts"
      main.flow:3:5: error: "[" is never closed
      z = [1, 2
          ^
      hint: add "]"
      main.flow:4:28: error: retry must be a whole number of at least 0, got the number -1
      w = exec("ls") with retry: -1
                                 ^~"
    `);
  });
});
