/**
 * The errors catalogue: every error mosnd reports to a user carries a stable code
 * from this table (searchable, like fastify's FST_ERR_*). Add new codes at the end
 * of their group; never reuse or renumber one.
 */

export const ErrorCodes = {
  // configuration
  MOSND_ERR_CONFIG_READ: 'cannot read the configuration file',
  MOSND_ERR_CONFIG_JSON: 'the configuration file is not valid JSON',
  MOSND_ERR_CONFIG_INVALID: 'the configuration is invalid',
  // command line and run directory
  MOSND_ERR_USAGE: 'bad command-line usage',
  MOSND_ERR_RUNDIR: 'the run directory cannot be used',
  MOSND_ERR_ALREADY_RUNNING: 'another mosnd already owns the run directory',
  MOSND_ERR_NOT_RUNNING: 'no mosnd is running for the run directory',
  MOSND_ERR_CONTROL: 'the control API call failed',
  // listeners and workers
  MOSND_ERR_LISTEN: 'a listener cannot bind its address',
  MOSND_ERR_WORKER_START: 'a worker did not become ready',
  MOSND_ERR_WORKER_CRASHLOOP: 'a worker keeps crashing and is no longer restarted',
  MOSND_ERR_RELOAD: 'the reload was rejected',
  MOSND_ERR_WORKER_UNRESPONSIVE: 'a worker stopped answering the watchdog and was killed',
  // upgrade and handover
  MOSND_ERR_UPGRADE_BUSY: 'an upgrade is already in progress',
  MOSND_ERR_UPGRADE_BINARY: 'the new install directory is not usable',
  MOSND_ERR_UPGRADE_FAILED: 'the new generation failed; the old one keeps serving',
  MOSND_ERR_TRANSFER_PROTOCOL: 'the handover peer sent a malformed message',
  MOSND_ERR_TRANSFER_TIMEOUT: 'the handover peer did not answer in time',
  MOSND_ERR_TRANSFER_CLOSED: 'the handover peer closed the channel',
  MOSND_ERR_TRANSFER_ADDON: 'the native fd-passing addon is not built or cannot be loaded',
  // dynamic configuration
  MOSND_ERR_XDS: 'the xDS client cannot run',
  MOSND_ERR_XDS_REJECTED: 'an xDS resource was rejected (NACK); the last good configuration keeps serving',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class MosndError extends Error {
  readonly code: ErrorCode;
  /** Extra lines (e.g. one per config problem) printed under the message. */
  readonly details: string[];

  constructor(code: ErrorCode, message?: string, details: string[] = [], options?: { cause?: unknown }) {
    super(message ?? ErrorCodes[code], options);
    this.name = 'MosndError';
    this.code = code;
    this.details = details;
  }

  /** One human sentence, then the details, as the CLI prints it. */
  describe(): string {
    const head = `${this.message} [${this.code}]`;
    return this.details.length ? `${head}\n${this.details.map((d) => `  - ${d}`).join('\n')}` : head;
  }
}

export function isMosndError(e: unknown): e is MosndError {
  return e instanceof MosndError;
}
