import { ConfigError } from '../../../src/config/load.ts';

/** The problems a config refusal lists; fails the test when `run` does not refuse. */
export function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
