import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { NavigationEnd, Router, RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { filter } from 'rxjs';

import { errorMessage } from './core/api-error';
import { Inbox, describeNotification } from './core/inbox';
import { Session } from './core/session';

/** The shell: skip link, header with navigation and unread count, and the routed page. */
@Component({
  selector: 'app-root',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [RouterOutlet, RouterLink, RouterLinkActive],
  templateUrl: './app.html',
  styleUrl: './app.css',
})
export class App {
  private readonly router = inject(Router);
  readonly session = inject(Session);
  readonly inbox = inject(Inbox);
  readonly signOutError = signal<string | null>(null);
  readonly unreadLabel = computed(() => {
    const unread = this.inbox.unread();
    return unread === 1 ? '1 unread notification' : `${unread} unread notifications`;
  });
  readonly liveAnnouncement = computed(() => {
    const latest = this.inbox.latest();
    return latest ? describeNotification(latest) : '';
  });

  constructor() {
    // After client-side navigation, move focus to the new page's heading as a page load would.
    this.router.events
      .pipe(
        filter((event) => event instanceof NavigationEnd),
        takeUntilDestroyed(inject(DestroyRef)),
      )
      .subscribe(() => setTimeout(() => document.querySelector<HTMLElement>('main h1')?.focus()));
  }

  signOut(): void {
    this.signOutError.set(null);
    this.session.logout().subscribe({
      next: () => void this.router.navigateByUrl('/signin'),
      error: (error: unknown) => this.signOutError.set(errorMessage(error)),
    });
  }
}
