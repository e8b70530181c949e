/**
 * The role CloudFormation deploys a stack with: the CDK bootstrap's execution role, exactly as the stack's
 * synthesizer names it in the cloud assembly (from the bootstrap qualifier). Queue and secret policies exempt it from
 * their denies, so a wrong ARN would lock the stack out of its own updates: it is never written by hand.
 */
import { DefaultStackSynthesizer, Fn, type Stack } from 'aws-cdk-lib';

/**
 * The ARN of `stack`'s CloudFormation execution role, resolved by CloudFormation at deploy (`Fn::Sub` of the
 * synthesizer's `arn:${AWS::Partition}:iam::<account>:role/cdk-<qualifier>-cfn-exec-role-<account>-<region>`).
 *
 * @throws {TypeError} when the stack does not deploy with a {@link DefaultStackSynthesizer} (no bootstrap role)
 */
export function deploymentRoleArn(stack: Stack): string {
  const synthesizer = stack.synthesizer;
  if (!(synthesizer instanceof DefaultStackSynthesizer)) {
    throw new TypeError(
      `${stack.stackName}: deploy with the DefaultStackSynthesizer (cdk bootstrap): the queue and secret policies name its CloudFormation execution role`,
    );
  }
  return Fn.sub(synthesizer.cloudFormationExecutionRoleArn);
}
