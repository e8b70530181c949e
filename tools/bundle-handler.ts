/** Bundles the handler with esbuild as the stack deploys it (infra/bundling.ts), for `npm run size` and the bench. */
import { build } from 'esbuild';
import { ESBUILD_TARGET, ESM_REQUIRE_BANNER, HANDLER_ENTRY, MAIN_FIELDS } from '../infra/bundling.js';

/**
 * Writes the minified ESM bundle to `outfile`.
 *
 * @param external packages left out (e.g. the AWS SDK the Lambda runtime provides) @default none (as deployed)
 */
export async function bundleHandler(outfile: string, external: readonly string[] = []): Promise<void> {
  await build({
    entryPoints: [HANDLER_ENTRY],
    bundle: true,
    minify: true,
    platform: 'node',
    target: ESBUILD_TARGET,
    format: 'esm',
    mainFields: MAIN_FIELDS,
    banner: { js: ESM_REQUIRE_BANNER },
    external: [...external],
    outfile,
    logLevel: 'error',
  });
}
