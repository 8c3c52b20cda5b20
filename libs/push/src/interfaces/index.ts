export * from './client-info.interface';
export * from './push-event.interface';
export * from './push-message.interface';
export * from './push-module-options.interface';
export * from './send-result.interface';
