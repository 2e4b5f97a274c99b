export * from './peer-transports.js';
export * from './demo-library.js';
