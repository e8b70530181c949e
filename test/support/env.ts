// Runs before every test file (jest setupFiles). AWS clients in tests must never reach for real credentials or the
// instance-metadata address: dummy credentials, a region, and loopback endpoints set by the tests themselves.
process.env.AWS_REGION ??= 'eu-west-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
