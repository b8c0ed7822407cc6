/**
 * Loads the control API definition (control.proto) at run time and carries the
 * conventions both ends share: loader options, and how a MosndError travels inside
 * a gRPC status. gRPC and the proto loader are required on first use only, so a CLI
 * command that never talks to the master does not pay for loading them (~100 ms).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as GrpcJs from '@grpc/grpc-js';
import { ErrorCodes, MosndError, type ErrorCode } from './errors';

export type Grpc = typeof GrpcJs;

/** Trailing-metadata key that names the MosndError code of a failed call. */
export const CODE_METADATA_KEY = 'mosnd-code';
/** Trailing-metadata key (binary, JSON array of strings) with the MosndError details. */
export const DETAILS_METADATA_KEY = 'mosnd-details-bin';

export interface ControlApi {
  grpc: Grpc;
  /** The generated client constructor; `.service` is the service definition for servers. */
  Control: GrpcJs.ServiceClientConstructor;
}

let loaded: ControlApi | undefined;

/**
 * Where control.proto is: beside this file when running from src/, or in the
 * package's src/shared/ when running the compiled dist/shared/*.js (the package
 * ships src/shared/control.proto, not a copy in dist/).
 */
export function resolveProtoPath(): string {
  const candidates = [
    path.join(__dirname, 'control.proto'),
    path.join(__dirname, '..', '..', 'src', 'shared', 'control.proto'),
  ];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new MosndError('MOSND_ERR_CONTROL', 'the control API definition control.proto is missing from the installation', candidates.map((c) => `not found: ${c}`));
}

export function loadControlApi(): ControlApi {
  if (loaded) return loaded;
  // Required here, not imported at the top: see the file comment.
  const grpc = require('@grpc/grpc-js') as Grpc;
  const protoLoader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
  const definition = protoLoader.loadSync(resolveProtoPath(), {
    keepCase: false, // snake_case in the .proto, camelCase in control-types.ts
    longs: Number, // uint64 values (bytes, counters, unix ms) stay below 2^53
    enums: String,
    defaults: true, // absent scalars and lists arrive as 0 / '' / [] instead of undefined
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    mosnd: { control: { v1: { Control: GrpcJs.ServiceClientConstructor } } };
  };
  loaded = { grpc, Control: root.mosnd.control.v1.Control };
  return loaded;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, value);
}

/** A thrown value as a gRPC status error, with the MosndError code in the trailers. */
export function toStatusError(grpc: Grpc, err: unknown, method: string): Partial<GrpcJs.StatusObject> & { code: GrpcJs.status } {
  const metadata = new grpc.Metadata();
  if (err instanceof MosndError) {
    metadata.set(CODE_METADATA_KEY, err.code);
    if (err.details.length) metadata.set(DETAILS_METADATA_KEY, Buffer.from(JSON.stringify(err.details)));
    return { code: grpcStatusFor(grpc, err.code), details: err.message, metadata };
  }
  const message = err instanceof Error ? err.message : String(err);
  metadata.set(CODE_METADATA_KEY, 'MOSND_ERR_CONTROL');
  return { code: grpc.status.INTERNAL, details: `the master failed to handle ${method}: ${message}`, metadata };
}

/** The MosndError a failed call carries, or undefined when the status has no code. */
export function fromStatusError(err: GrpcJs.ServiceError): MosndError | undefined {
  const code = err.metadata?.get(CODE_METADATA_KEY)[0];
  if (!isErrorCode(code)) return undefined;
  let details: string[] = [];
  const raw = err.metadata.get(DETAILS_METADATA_KEY)[0];
  if (Buffer.isBuffer(raw)) {
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (Array.isArray(parsed)) details = parsed.map(String);
    } catch {
      // Malformed details are dropped; the code and message still stand.
    }
  }
  return new MosndError(code, err.details, details);
}

/** A gRPC status code for other gRPC clients (grpcurl); mosnd itself reads the metadata. */
function grpcStatusFor(grpc: Grpc, code: ErrorCode): GrpcJs.status {
  switch (code) {
    case 'MOSND_ERR_USAGE':
    case 'MOSND_ERR_CONFIG_READ':
    case 'MOSND_ERR_CONFIG_JSON':
    case 'MOSND_ERR_CONFIG_INVALID':
      return grpc.status.INVALID_ARGUMENT;
    case 'MOSND_ERR_UPGRADE_BUSY':
    case 'MOSND_ERR_UPGRADE_BINARY':
    case 'MOSND_ERR_RELOAD':
      return grpc.status.FAILED_PRECONDITION;
    case 'MOSND_ERR_TRANSFER_TIMEOUT':
      return grpc.status.DEADLINE_EXCEEDED;
    default:
      return grpc.status.UNKNOWN;
  }
}
