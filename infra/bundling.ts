/**
 * How the handler is bundled, in one place: the CDK construct, `npm run size` and the bundle smoke test all use
 * these settings, so what is measured and tested is what is deployed.
 */
import { fileURLToPath } from 'node:url';

/** Absolute path of the Lambda entry. */
export const HANDLER_ENTRY = fileURLToPath(new URL('../functions/revoke-pats/handler.ts', import.meta.url));

/** Absolute path of the repository root (the lock file lives there). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** esbuild target: the syntax level of the Lambda runtime (nodejs24.x runs it too). */
export const ESBUILD_TARGET = 'node22';

/**
 * ESM output needs `require` for the CommonJS dependencies esbuild inlines (parts of the AWS SDK): the banner
 * recreates it. Without it the bundle fails only after deploy, with "Dynamic require of ... is not supported".
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** Package fields esbuild prefers: ESM builds first (Middy and Powertools ship ESM). */
export const MAIN_FIELDS = ['module', 'main'];
