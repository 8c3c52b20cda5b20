export * from './push-client.js';
