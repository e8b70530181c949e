#!/usr/bin/env node
// The pat-revoker bin: runs the TypeScript CLI through tsx, from a checkout with its dependencies installed.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
