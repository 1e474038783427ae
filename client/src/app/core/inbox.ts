import { DestroyRef, Injectable, effect, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { Subscription } from 'rxjs';

import { Api } from './api';
import { errorMessage } from './api-error';
import { AppNotification } from './api-types';
import { Live } from './live';
import { Session } from './session';

/** The signed-in user's notifications and unread count, kept current by the live socket. */
@Injectable({ providedIn: 'root' })
export class Inbox {
  private readonly api = inject(Api);
  private readonly session = inject(Session);
  private readonly itemsSignal = signal<AppNotification[]>([]);
  private readonly unreadSignal = signal(0);
  private readonly nextCursor = signal<string | null>(null);
  private readonly loadingSignal = signal(false);
  private readonly errorSignal = signal<string | null>(null);
  private readonly latestSignal = signal<AppNotification | null>(null);
  private inFlight: Subscription | null = null;

  readonly items = this.itemsSignal.asReadonly();
  readonly unread = this.unreadSignal.asReadonly();
  readonly hasMore = () => this.nextCursor() !== null;
  readonly loading = this.loadingSignal.asReadonly();
  readonly error = this.errorSignal.asReadonly();
  /** The last notification that arrived live, for the screen-reader announcement. */
  readonly latest = this.latestSignal.asReadonly();

  constructor() {
    const live = inject(Live);
    const destroyRef = inject(DestroyRef);
    live.notifications
      .pipe(takeUntilDestroyed(destroyRef))
      .subscribe((notification) => this.receive(notification));
    live.resumed.pipe(takeUntilDestroyed(destroyRef)).subscribe(() => this.reload());
    effect(() => {
      const user = this.session.user();
      this.inFlight?.unsubscribe();
      this.loadingSignal.set(false);
      this.itemsSignal.set([]);
      this.nextCursor.set(null);
      this.unreadSignal.set(0);
      this.latestSignal.set(null);
      if (user) {
        this.reload();
      }
    });
  }

  reload(): void {
    this.fetch(null);
  }

  loadMore(): void {
    const cursor = this.nextCursor();
    if (cursor && !this.loadingSignal()) {
      this.fetch(cursor);
    }
  }

  markRead(ids?: number[]): void {
    this.errorSignal.set(null);
    this.api.markRead(ids).subscribe({
      next: (unread) => {
        this.unreadSignal.set(unread);
        const marked = ids ? new Set(ids) : null;
        this.itemsSignal.update((items) =>
          items.map((item) => (!marked || marked.has(item.id) ? { ...item, read: true } : item)),
        );
      },
      error: (error: unknown) => this.errorSignal.set(errorMessage(error)),
    });
  }

  private receive(notification: AppNotification): void {
    if (this.itemsSignal().some((item) => item.id === notification.id)) {
      return;
    }
    this.itemsSignal.update((items) => [notification, ...items]);
    if (!notification.read) {
      this.unreadSignal.update((count) => count + 1);
    }
    this.latestSignal.set(notification);
  }

  private fetch(cursor: string | null): void {
    // A newer request wins: an older answer must not overwrite a fresher first page.
    this.inFlight?.unsubscribe();
    this.loadingSignal.set(true);
    this.errorSignal.set(null);
    this.inFlight = this.api.notifications(cursor).subscribe({
      next: (page) => {
        this.itemsSignal.update((items) => (cursor ? [...items, ...page.items] : page.items));
        this.unreadSignal.set(page.unread);
        this.nextCursor.set(page.next_cursor);
        this.loadingSignal.set(false);
      },
      error: (error: unknown) => {
        this.errorSignal.set(errorMessage(error));
        this.loadingSignal.set(false);
      },
    });
  }
}

/** Words for each kind of notification, e.g. "ana mentioned you". */
export function describeNotification(notification: AppNotification): string {
  const who = notification.actor.display_name || notification.actor.username;
  switch (notification.kind) {
    case 'mention':
      return `${who} mentioned you in a post`;
    case 'follow':
      return `${who} started following you`;
    case 'comment':
      return `${who} commented on your post`;
  }
}
