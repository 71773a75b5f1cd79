import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SessionModuleOptions } from './session-options.interface.js';

/** Extra options of `forRoot`/`forRootAsync` that shape the module rather than sessions. */
export interface SessionModuleExtras {
  /**
   * Make `SessionService` and `SessionStore` injectable in every module without importing
   * `SessionModule` there (the interceptor is global either way). Default: `true`.
   */
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass: ConfigurableSessionModule,
  MODULE_OPTIONS_TOKEN: SESSION_MODULE_OPTIONS,
  OPTIONS_TYPE: SESSION_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: SESSION_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<SessionModuleOptions>({ moduleName: 'Session' })
  .setClassMethodName('forRoot')
  .setExtras<SessionModuleExtras>({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
