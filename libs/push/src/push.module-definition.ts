// Kept free of imports from this library: the options token must exist before any decorator that injects it runs.
import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { PushModuleOptions } from './interfaces/push-module-options.interface';

export const {
  ConfigurableModuleClass: ConfigurablePushModule,
  MODULE_OPTIONS_TOKEN: PUSH_MODULE_OPTIONS,
  OPTIONS_TYPE: PUSH_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: PUSH_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<PushModuleOptions>({ moduleName: 'Push' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false, gateway: true, path: '/ws', port: 0 }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
