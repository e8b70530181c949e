/**
 * `npm run size`: bundles functions/revoke-pats/handler.ts with esbuild the way the Lambda is deployed (the settings
 * of infra/bundling.ts: ESM, minified, Node 22 target, `createRequire` banner) and prints the size, with the AWS SDK v3 clients left to the
 * runtime and with everything bundled. Writes to a temporary folder; exits 1 if bundling fails.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleHandler } from './bundle-handler.js';

const dir = mkdtempSync(join(tmpdir(), 'pat-revoker-size-'));
try {
  const variants = [
    ['AWS SDK v3 from the Lambda runtime', ['@aws-sdk/*', '@smithy/*']],
    ['everything bundled', []],
  ] as const;
  process.stdout.write('handler bundle (esbuild, ESM, minified, target node22)\n');
  for (const [name, external] of variants) {
    const outfile = join(dir, `${external.length}.mjs`);
    await bundleHandler(outfile, external);
    const bytes = statSync(outfile).size;
    process.stdout.write(`  ${name.padEnd(36)} ${(bytes / 1024).toFixed(1).padStart(8)} KB (${bytes} bytes)\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
