import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import type { StepContext } from "../../src/graph/ir.js";
import { isModuleDef, module, ModuleValueError } from "../../src/language/module-def.js";

const User = z.object({ id: z.string(), age: z.number().int() });

describe("module()", () => {
  it("infers run's parameters from the input schemas and its result from the output schema", () => {
    const GetUser = module({
      input: [z.string(), z.number().optional()],
      output: User,
      run: async (id, n) => {
        expectTypeOf(id).toEqualTypeOf<string>();
        expectTypeOf(n).toEqualTypeOf<number | undefined>();
        return { id, age: n ?? 1 };
      },
    });
    expectTypeOf(GetUser.run).parameters.toEqualTypeOf<[string, number | undefined]>();
    expectTypeOf(GetUser.run).returns.resolves.toEqualTypeOf<{ id: string; age: number }>();

    const Untyped = module({ input: [z.boolean()], run: (b) => (b ? 1 : "no") });
    expectTypeOf(Untyped.run).returns.resolves.toEqualTypeOf<1 | "no">();

    // @ts-expect-error: run must return what the output schema accepts
    module({ input: [z.string()], output: z.number(), run: (s) => s });
    module({
      input: [z.string()],
      // @ts-expect-error: the parameter is a string, not a number
      run: (s: number) => s,
    });
    module({
      input: [z.string()],
      run(s) {
        expectTypeOf(this).toEqualTypeOf<StepContext>();
        return s;
      },
    });
  });

  it("validates arguments and results at run time", async () => {
    const Double = module({ input: [z.number()], output: z.number().max(10), run: (n) => n * 2 });
    expect(isModuleDef(Double)).toBe(true);
    expect(isModuleDef({ run: () => 1 })).toBe(false);
    await expect(Double.run(3)).resolves.toBe(6);
    await expect((Double.run as (x: unknown) => Promise<unknown>)("3")).rejects.toThrow(
      /argument 1 does not match its input schema: .*expected number/,
    );
    await expect(Double.run(7)).rejects.toThrow(/returned a value that does not match its output schema/);
    await expect((Double.run as (...x: unknown[]) => Promise<unknown>)(1, 2)).rejects.toThrow(
      "takes 1 argument, got 2",
    );
    const err = await Double.run(7).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModuleValueError);
    expect((err as ModuleValueError).kind).toBe("value");
  });

  it("applies schema transforms and names the failing path", async () => {
    const Parse = module({
      input: [z.object({ when: z.string().transform((s) => s.length), tags: z.array(z.string()) })],
      run: (x) => x,
    });
    await expect(Parse.run({ when: "abc", tags: [] })).resolves.toEqual({ when: 3, tags: [] });
    await expect(Parse.run({ when: "abc", tags: [1 as unknown as string] })).rejects.toThrow(
      /at \.tags\[0\]:/,
    );
  });

  it("passes the step context as this, and makes one up when called directly", async () => {
    const Who = module({
      input: [],
      run() {
        return `${this.stepId}#${this.attempt}`;
      },
    });
    await expect(Who.run()).resolves.toBe("module#1");
    const ctx: StepContext = { stepId: "s", attempt: 2, root: "/tmp", signal: new AbortController().signal };
    await expect(Who.run.call(ctx)).resolves.toBe("s#2");
  });
});
