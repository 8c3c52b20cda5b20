import { DynamicModule, Module } from '@nestjs/common';
import { APP_PIPE } from '@nestjs/core';
import { PushModule } from 'nest-push-channel';
import type { AppConfig } from './app.config';
import { LoginController } from './auth/login.controller';
import { LoginCookie } from './auth/login-cookie';
import { dashboardControllers } from './dashboard/dashboard.controller';
import { DemoPageController } from './demo/demo-page.controller';
import { PushClientScriptController } from './demo/push-client-script.controller';
import { AppValidationPipe } from './http/validation/app-validation.pipe';
import { OpsModule } from './ops/ops.module';
import { BindController } from './push-demo/bind.controller';
import { MessageController } from './push-demo/message.controller';
import { StatsController } from './push-demo/stats.controller';

/** The example app: a demo login, the bind and send controllers, operator stats, metrics, health and the demo page. */
@Module({})
export class AppModule {
  /** Builds the app module for one configuration (tests start several with different push options). */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [PushModule.forRoot({ ...config.push, isGlobal: true }), OpsModule],
      controllers: [
        DemoPageController,
        PushClientScriptController,
        LoginController,
        BindController,
        MessageController,
        StatsController,
        ...dashboardControllers(config.dashboard),
      ],
      providers: [
        // Request DTOs are validated here, not in main.ts, so tests and `npm start` share one pipe.
        { provide: APP_PIPE, useClass: AppValidationPipe },
        {
          provide: LoginCookie,
          useValue: new LoginCookie(config.cookieSecret, {
            ttlSeconds: config.loginTtlSeconds,
            secure: config.cookieSecure,
          }),
        },
      ],
    };
  }
}
