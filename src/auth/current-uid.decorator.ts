import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { AuthenticatedRequest } from './logged-in.guard';

/** The uid of the logged-in user, as set by `LoggedInGuard`. */
export const CurrentUid = createParamDecorator(
  (_data: unknown, context: ExecutionContext): string => context.switchToHttp().getRequest<AuthenticatedRequest>().uid,
);
