import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { Router, RouterLink } from '@angular/router';

import { errorMessage } from '../../core/api-error';
import { Session } from '../../core/session';

type Field = 'username' | 'email' | 'password';

@Component({
  selector: 'app-signup',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [ReactiveFormsModule, RouterLink],
  template: `
    <h1 tabindex="-1">Create an account</h1>
    <form class="card narrow" [formGroup]="form" (ngSubmit)="submit()" novalidate>
      <div class="field">
        <label for="signup-username">Username</label>
        <input id="signup-username" formControlName="username" autocomplete="username" required
          [attr.aria-invalid]="showInvalid('username')" aria-describedby="signup-username-hint" />
        <p id="signup-username-hint" [class]="showInvalid('username') ? 'error' : 'muted small'">
          3 to 30 letters, digits or underscores.
        </p>
      </div>
      <div class="field">
        <label for="signup-email">Email</label>
        <input id="signup-email" type="email" formControlName="email" autocomplete="email" required
          [attr.aria-invalid]="showInvalid('email')" aria-describedby="signup-email-error" />
        @if (showInvalid('email')) {
          <p id="signup-email-error" class="error">Enter a valid email address.</p>
        }
      </div>
      <div class="field">
        <label for="signup-password">Password</label>
        <input id="signup-password" type="password" formControlName="password" autocomplete="new-password" required
          [attr.aria-invalid]="showInvalid('password')" aria-describedby="signup-password-hint" />
        <p id="signup-password-hint" [class]="showInvalid('password') ? 'error' : 'muted small'">At least 8 characters.</p>
      </div>
      @if (error()) {
        <p class="error" role="alert">{{ error() }}</p>
      }
      <button type="submit" class="primary" [disabled]="busy()">{{ busy() ? 'Creating…' : 'Sign up' }}</button>
      <p>Already have an account? <a routerLink="/signin">Sign in</a>.</p>
    </form>
  `,
})
export class Signup {
  private readonly session = inject(Session);
  private readonly router = inject(Router);

  readonly busy = signal(false);
  readonly error = signal<string | null>(null);
  readonly form = inject(FormBuilder).nonNullable.group({
    username: ['', [Validators.required, Validators.pattern(/^\w{3,30}$/)]],
    email: ['', [Validators.required, Validators.email]],
    password: ['', [Validators.required, Validators.minLength(8)]],
  });

  showInvalid(name: Field): boolean | null {
    const control = this.form.controls[name];
    return control.invalid && control.touched ? true : null;
  }

  submit(): void {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const { username, email, password } = this.form.getRawValue();
    this.busy.set(true);
    this.error.set(null);
    this.session.register(username, email, password).subscribe({
      next: () => void this.router.navigateByUrl('/'),
      error: (error: unknown) => {
        this.busy.set(false);
        this.error.set(errorMessage(error));
      },
    });
  }
}
