import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { RouterLink } from '@angular/router';

import { Inbox, describeNotification } from '../../core/inbox';

@Component({
  selector: 'app-notifications',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [RouterLink, DatePipe],
  template: `
    <h1 tabindex="-1">Notifications</h1>
    <p class="toolbar">
      <span data-testid="unread-count">{{ inbox.unread() }} unread</span>
      <button type="button" (click)="inbox.markRead()" [disabled]="inbox.unread() === 0">Mark all read</button>
    </p>
    @if (inbox.error()) {
      <div class="card" role="alert">
        <p class="error">{{ inbox.error() }}</p>
        <button type="button" (click)="inbox.reload()">Try again</button>
      </div>
    }
    <ul class="plain">
      @for (item of inbox.items(); track item.id) {
        <li class="card notification" [class.unread]="!item.read">
          <p>
            @if (!item.read) {
              <span class="badge">new</span>&ngsp;
            }
            <a [routerLink]="['/u', item.actor.username]">{{ describe(item) }}</a>
          </p>
          <p class="muted small">
            <time [attr.datetime]="item.created_at">{{ item.created_at | date: 'medium' }}</time>
            @if (item.post_id) {
              · <a [routerLink]="['/p', item.post_id]">View post</a>
            }
          </p>
          @if (!item.read) {
            <button type="button" class="link" (click)="inbox.markRead([item.id])">Mark read</button>
          }
        </li>
      } @empty {
        @if (!inbox.loading() && !inbox.error()) {
          <li class="card muted">No notifications yet.</li>
        }
      }
    </ul>
    @if (inbox.loading()) {
      <p class="muted" role="status">Loading notifications…</p>
    }
    @if (inbox.hasMore() && !inbox.loading()) {
      <button type="button" class="more" (click)="inbox.loadMore()">Load older notifications</button>
    }
  `,
})
export class Notifications {
  readonly inbox = inject(Inbox);
  readonly describe = describeNotification;

  constructor() {
    // Live events keep the list current while open; a fresh fetch catches what arrived while offline.
    if (!this.inbox.loading()) {
      this.inbox.reload();
    }
  }
}
