import { HttpErrorResponse } from '@angular/common/http';
import { Injectable, computed, inject, signal } from '@angular/core';
import { Observable, firstValueFrom, tap } from 'rxjs';

import { Api } from './api';
import { User } from './api-types';

/** Who is signed in. The cookie is HttpOnly, so the only way to know is to ask `/api/auth/me`. */
@Injectable({ providedIn: 'root' })
export class Session {
  private readonly api = inject(Api);
  private readonly current = signal<User | null>(null);
  private restored: Promise<void> | null = null;

  readonly user = this.current.asReadonly();
  readonly signedIn = computed(() => this.current() !== null);

  /** Asks the server once who owns the cookie; later calls share that answer. */
  restore(): Promise<void> {
    this.restored ??= firstValueFrom(this.api.me()).then(
      (user) => this.current.set(user),
      (error: unknown) => {
        // 401 just means "nobody"; anything else must not block the app from starting.
        if (!(error instanceof HttpErrorResponse) || error.status !== 401) {
          console.warn('Could not restore the session', error);
        }
        this.current.set(null);
      },
    );
    return this.restored;
  }

  register(username: string, email: string, password: string): Observable<User> {
    return this.api.register(username, email, password).pipe(tap((user) => this.current.set(user)));
  }

  login(username: string, password: string): Observable<User> {
    return this.api.login(username, password).pipe(tap((user) => this.current.set(user)));
  }

  logout(): Observable<unknown> {
    return this.api.logout().pipe(tap(() => this.current.set(null)));
  }

  /** Keeps the header and profile in step after the user edits themself. */
  replaceUser(user: User): void {
    this.current.set(user);
  }

  /** Called when any request answers 401: the cookie expired or was revoked. */
  forget(): void {
    this.current.set(null);
  }
}
