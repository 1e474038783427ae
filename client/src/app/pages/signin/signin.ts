import { ChangeDetectionStrategy, Component, inject, input, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { Router, RouterLink } from '@angular/router';

import { errorMessage } from '../../core/api-error';
import { Session } from '../../core/session';

@Component({
  selector: 'app-signin',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [ReactiveFormsModule, RouterLink],
  template: `
    <h1 tabindex="-1">Sign in</h1>
    <form class="card narrow" [formGroup]="form" (ngSubmit)="submit()" novalidate>
      <div class="field">
        <label for="signin-username">Username</label>
        <input id="signin-username" formControlName="username" autocomplete="username" required
          [attr.aria-invalid]="showInvalid('username')" aria-describedby="signin-username-error" />
        @if (showInvalid('username')) {
          <p id="signin-username-error" class="error">Enter your username.</p>
        }
      </div>
      <div class="field">
        <label for="signin-password">Password</label>
        <input id="signin-password" type="password" formControlName="password" autocomplete="current-password" required
          [attr.aria-invalid]="showInvalid('password')" aria-describedby="signin-password-error" />
        @if (showInvalid('password')) {
          <p id="signin-password-error" class="error">Enter your password.</p>
        }
      </div>
      @if (error()) {
        <p class="error" role="alert">{{ error() }}</p>
      }
      <button type="submit" class="primary" [disabled]="busy()">{{ busy() ? 'Signing in…' : 'Sign in' }}</button>
      <p>New here? <a routerLink="/signup">Create an account</a>.</p>
    </form>
  `,
})
export class Signin {
  private readonly session = inject(Session);
  private readonly router = inject(Router);

  /** Where to go after signing in; set by the guard that sent the visitor here. */
  readonly next = input<string>();
  readonly busy = signal(false);
  readonly error = signal<string | null>(null);
  readonly form = inject(FormBuilder).nonNullable.group({
    username: ['', Validators.required],
    password: ['', Validators.required],
  });

  showInvalid(name: 'username' | 'password'): boolean | null {
    const control = this.form.controls[name];
    return control.invalid && control.touched ? true : null;
  }

  submit(): void {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const { username, password } = this.form.getRawValue();
    this.busy.set(true);
    this.error.set(null);
    this.session.login(username, password).subscribe({
      next: () => void this.router.navigateByUrl(safeNext(this.next())),
      error: (error: unknown) => {
        this.busy.set(false);
        this.error.set(errorMessage(error));
      },
    });
  }
}

/** Only same-app paths may be followed after sign-in, never another origin. */
export function safeNext(next: string | undefined): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}
