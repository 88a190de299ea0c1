/**
 * Network configuration: decoding stdin, the fields every plugin shares, and turning schema
 * failures into the spec's "invalid network config" error naming the field.
 *
 * Each plugin extends BASE_CONFIG with its own fields (see src/core/cni/plugins/). Unknown fields
 * are kept and ignored, as the reference plugins do, so configs written for them work unchanged.
 */

import { z } from 'zod';
import { CniError, CniErrorCode } from './errors.js';
import { parseResult, type CniResult } from './result.js';
import { isSupportedVersion, SUPPORTED_VERSIONS, type CniVersion } from './version.js';

export const BASE_CONFIG = z
  .object({
    cniVersion: z.string(),
    name: z.string().min(1, 'must not be empty').optional(),
    type: z.string().min(1, 'must not be empty'),
    args: z.record(z.unknown()).optional(),
    runtimeConfig: z.record(z.unknown()).optional(),
    capabilities: z.record(z.boolean()).optional(),
    prevResult: z.unknown().optional(),
    ipam: z
      .object({ type: z.string().min(1, 'must not be empty') })
      .passthrough()
      .optional(),
    dns: z
      .object({
        nameservers: z.array(z.string()).optional(),
        domain: z.string().optional(),
        search: z.array(z.string()).optional(),
        options: z.array(z.string()).optional(),
      })
      .optional(),
  })
  .passthrough();

export type BaseConfig = z.infer<typeof BASE_CONFIG>;

/** Decodes stdin into a JSON object; malformed input is the spec's decoding failure (code 6). */
export function decodeConfig(stdin: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniErrorCode.DecodingFailure, `decode network config: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CniError(CniErrorCode.DecodingFailure, 'decode network config: must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** Checks the config's cniVersion against what weft supports (code 1 when it is not). */
export function requireVersion(config: Record<string, unknown>): CniVersion {
  const v = config.cniVersion;
  if (typeof v !== 'string' || v === '') {
    throw new CniError(CniErrorCode.InvalidNetworkConfig, 'cniVersion: missing from network config');
  }
  if (!isSupportedVersion(v)) {
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `incompatible CNI version "${v}"`,
      `supported versions: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  return v;
}

/** Formats the first schema issue as "field.path: reason". */
export function describeZodError(err: z.ZodError): string {
  return err.issues
    .map((issue) => {
      const path = issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
        .join('')
        .replace(/^\./, '');
      return `${path || '(config)'}: ${issue.message}`;
    })
    .join('; ');
}

/** Validates with a schema; failures become "invalid network config" naming the field. */
export function parseWith<T extends z.ZodTypeAny>(schema: T, value: unknown, what = 'network config'): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new CniError(CniErrorCode.InvalidNetworkConfig, `invalid ${what}: ${describeZodError(parsed.error)}`);
  }
  return parsed.data as z.infer<T>;
}

/** The prevResult, parsed, or undefined when the config has none. */
export function prevResultOf(config: { prevResult?: unknown }): CniResult | undefined {
  if (config.prevResult === undefined || config.prevResult === null) return undefined;
  return parseResult(config.prevResult, 'prevResult');
}

/** runtimeConfig[key] when the plugin declared the capability (or the runtime sent it anyway). */
export function runtimeValue(config: BaseConfig, key: string): unknown {
  return config.runtimeConfig?.[key];
}
