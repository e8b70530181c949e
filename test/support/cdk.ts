/**
 * Synthesizing the app for tests. Loading aws-cdk-lib costs seconds per jest file, so CDK tests live in two
 * files: test/infra/stacks.test.ts (all environments, bundling skipped) and test/infra/bundle.test.ts (the real
 * bundle, built once).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/build-app.js';
import { ENVIRONMENTS, type EnvironmentInput, type EnvironmentName } from '../../infra/environments.js';
import type { RevocationStack } from '../../infra/revocation-stack.js';

/** A synthesized environment. */
export interface Synthesized {
  stack: RevocationStack;
  template: Template;
  /** The CloudFormation execution role `cdk deploy` uses for this stack, as the cloud assembly names it. */
  deploymentRoleArn: string | undefined;
}

/**
 * Builds and synthesizes the app (cdk-nag runs during synthesis and throws on an unacknowledged finding).
 *
 * @param options.bundle bundle the function for real (slow); otherwise bundling is skipped
 */
export function synthesize(
  options: {
    only?: EnvironmentName;
    environments?: Record<EnvironmentName, EnvironmentInput>;
    bundle?: boolean;
    outdir?: string;
  } = {},
): { app: App; byName: Map<string, Synthesized> } {
  // cdk.json's context (feature flags) changes the templates: test what `cdk synth` produces.
  const { context } = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  };
  // Without an outdir the CDK leaves a cdk.out* folder in the temp directory per synth; ours goes when done.
  const outdir = options.outdir ?? scratchDir();
  try {
    const app = new App({
      outdir,
      context: { ...context, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
    });
    const stacks = buildApp(app, options.only, options.environments ?? ENVIRONMENTS);
    const assembly = app.synth();
    const byName = new Map(
      stacks.map((stack) => [
        stack.node.id.replace('PatRevoker-', ''),
        {
          stack,
          template: Template.fromStack(stack),
          deploymentRoleArn: assembly.getStackArtifact(stack.artifactId).cloudFormationExecutionRoleArn,
        },
      ]),
    );
    return { app, byName };
  } finally {
    if (!options.outdir) rmSync(outdir, { recursive: true, force: true });
  }
}

/** A fresh folder for one synth's cloud assembly; the caller removes it. */
export function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), 'pat-revoker-cdk-'));
}
