/**
 * An error the user can act on from its message alone (a missing package, a bad option): interfaces
 * print the message without a stack trace; the command line exits with `code` (2: invalid usage).
 */
export class UserError extends Error {
  override name = "UserError";

  constructor(
    message: string,
    readonly code: number = 2,
  ) {
    super(message);
  }
}
