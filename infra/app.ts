/**
 * The CDK app: one revocation stack per environment, checked by cdk-nag.
 *
 *   npx cdk synth                 every environment (offline: no lookups, no Docker, no credentials)
 *   npx cdk synth -c env=prod     one environment
 *   npx cdk deploy -c env=prod    deploy one (see README)
 */
import { App } from 'aws-cdk-lib';
import { buildApp } from './build-app.js';

const app = new App();
buildApp(app, app.node.tryGetContext('env'));
app.synth();
