/** Named exit codes, as istioctl uses them. */
export const EXIT = {
  /** Nothing at or above the failure threshold. */
  OK: 0,
  /** An internal error (a bug in weir). */
  INTERNAL: 1,
  /** A rollout was rolled back (`weir rollout run`). */
  ROLLED_BACK: 3,
  /** A rollout ended inconclusive. */
  INCONCLUSIVE: 4,
  /** Bad usage: unknown flag, missing argument, a path that does not exist. */
  USAGE: 64,
  /** The configuration has problems at or above `--fail-on` (istioctl's "analysis found issues"). */
  ANALYSIS: 79,
} as const;

/** An error that ends the command with a given exit code and a message for stderr. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
