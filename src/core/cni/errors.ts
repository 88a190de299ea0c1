/**
 * CniError: the one error type a CNI plugin reports to its runtime.
 *
 * The codes are the spec's well-known error codes (CNI spec 1.1, "Error"); weft's own codes start
 * at 100 as the spec reserves 0-99. Exactly one place (the dispatcher in src/cni/skel.ts) turns a
 * thrown error into the error JSON, so every other module just throws.
 */

export const CniErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  /** STATUS: the plugin is not available (e.g. no addresses left, datastore unreachable). */
  PluginNotAvailable: 50,
  /** STATUS: the plugin is available but with limited connectivity. */
  LimitedConnectivity: 51,
  /** weft: an IP range has no free address left. */
  RangeExhausted: 100,
  /** weft: a kernel operation (ip, nft, sysctl) failed. */
  KernelFailure: 101,
  /** weft: a delegated plugin could not be found or executed. */
  DelegateFailure: 102,
  /** weft: CHECK found the attachment differs from what ADD made. */
  CheckFailed: 103,
} as const;

export type CniErrorCodeValue = (typeof CniErrorCode)[keyof typeof CniErrorCode];

export class CniError extends Error {
  override readonly name = 'CniError';
  constructor(
    readonly code: number,
    message: string,
    readonly details = '',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The spec's error object (without cniVersion, which the dispatcher adds). */
  toJSON(): { code: number; msg: string; details?: string } {
    return this.details
      ? { code: this.code, msg: this.message, details: this.details }
      : { code: this.code, msg: this.message };
  }
}

/** Wraps any thrown value as a CniError, keeping CniErrors as they are. */
export function toCniError(err: unknown, fallbackCode: number = CniErrorCode.IoFailure): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof Error) return new CniError(fallbackCode, err.message, describeCause(err), { cause: err });
  return new CniError(fallbackCode, String(err));
}

function describeCause(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return cause.message;
  return '';
}
