import { HttpErrorResponse, HttpInterceptorFn } from '@angular/common/http';
import { inject } from '@angular/core';
import { tap } from 'rxjs';

import { Session } from './session';

/** A 401 on anything but the auth routes means the session ended elsewhere: forget the user. */
export const unauthorizedInterceptor: HttpInterceptorFn = (request, next) => {
  const session = inject(Session);
  return next(request).pipe(
    tap({
      error: (error: unknown) => {
        if (
          error instanceof HttpErrorResponse &&
          error.status === 401 &&
          !request.url.startsWith('/api/auth/')
        ) {
          session.forget();
        }
      },
    }),
  );
};
