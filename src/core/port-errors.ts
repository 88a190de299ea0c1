/**
 * The errors that the ports' contracts name (src/ports holds only interfaces and types, so their
 * classes live here): callers tell them apart with instanceof, adapters throw them.
 *
 * - ExecError: a program run through the Exec port failed (argv, exit code or signal, stderr, context).
 * - LeaseTakenError / LeaseLostError: LeaseStore's acquire of a held subnet / renew of a lease gone.
 * - LinkBatchError: Links.apply stopped at one change, whose index it carries.
 */

/** A program that failed: carries argv, exit code, signal, stderr and the caller's context. */
export class ExecError extends Error {
  override readonly name = 'ExecError';
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stdout: string,
    readonly stderr: string,
    readonly context: string | undefined,
    options?: { cause?: unknown },
  ) {
    const what = context ? `${context}: ` : '';
    const how = signal ? `killed by ${signal}` : exitCode === null ? 'did not run to an exit' : `exit code ${exitCode}`;
    const why = stderr.trim() || stdout.trim();
    super(`${what}${argv.join(' ')}: ${how}${why ? `: ${why}` : ''}`, options);
  }
}

export class LeaseTakenError extends Error {
  override readonly name = 'LeaseTakenError';
}

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/**
 * A failed batch: which change failed (its index in the list given to apply), so callers know
 * what was made before it; undefined when the failure cannot be tied to one change.
 */
export class LinkBatchError extends Error {
  constructor(
    message: string,
    readonly failedIndex: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'LinkBatchError';
  }
}
