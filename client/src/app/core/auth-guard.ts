import { inject } from '@angular/core';
import { CanActivateFn, Router } from '@angular/router';

import { Session } from './session';

// Both guards inject before awaiting: inject() only works synchronously inside the guard call.

/** Sends anonymous visitors to sign in, remembering where they were going. */
export const signedInGuard: CanActivateFn = async (_route, state) => {
  const session = inject(Session);
  const router = inject(Router);
  await session.restore();
  if (session.signedIn()) {
    return true;
  }
  return router.createUrlTree(['/signin'], { queryParams: { next: state.url } });
};

/** Keeps signed-in users off the sign-in and sign-up screens. */
export const anonymousGuard: CanActivateFn = async () => {
  const session = inject(Session);
  const router = inject(Router);
  await session.restore();
  return session.signedIn() ? router.createUrlTree(['/']) : true;
};
