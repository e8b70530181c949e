// ESM jest: Middy is ESM-only, so the whole project runs as ESM (GUIDE section 2).
import { createDefaultEsmPreset } from 'ts-jest';

/** @type {import('jest').Config} */
export default {
  ...createDefaultEsmPreset({ tsconfig: 'tsconfig.json' }),
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  setupFiles: ['<rootDir>/test/support/env.ts'],
  // Secret hygiene: no test file's output may contain a secret a sandbox issued.
  setupFilesAfterEnv: ['<rootDir>/test/support/hygiene.ts'],
  // Tests run servers on loopback; a forgotten handle must fail loudly rather than hang CI.
  testTimeout: 20_000,
};
