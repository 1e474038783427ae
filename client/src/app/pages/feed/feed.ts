import { ChangeDetectionStrategy, Component, DestroyRef, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';

import { Api } from '../../core/api';
import { errorMessage } from '../../core/api-error';
import { Post } from '../../core/api-types';
import { Live } from '../../core/live';
import { Compose } from '../../shared/compose/compose';
import { PostCard } from '../../shared/post-card/post-card';

/** Home: the compose box, then the posts of the people you follow, newest first, growing live. */
@Component({
  selector: 'app-feed',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [Compose, PostCard],
  template: `
    <h1 tabindex="-1">Home</h1>
    <app-compose (posted)="add($event)" />
    <p class="live-status muted small" role="status">
      @switch (live.state()) {
        @case ('live') { Live updates on. }
        @case ('connecting') { Connecting for live updates… }
        @default { Live updates off. }
      }
    </p>
    <p class="visually-hidden" aria-live="polite">{{ announcement() }}</p>
    <section aria-labelledby="feed-title" class="feed">
      <h2 id="feed-title" class="visually-hidden">Your feed</h2>
      @for (post of posts(); track post.id) {
        <app-post-card [post]="post" />
      } @empty {
        @if (!loading() && !error()) {
          <p class="card muted">Your feed is empty. Follow people to see their posts here.</p>
        }
      }
      @if (loading()) {
        <p class="muted" role="status">Loading posts…</p>
      }
      @if (error()) {
        <div class="card" role="alert">
          <p class="error">{{ error() }}</p>
          <button type="button" (click)="retry()">Try again</button>
        </div>
      }
      @if (nextCursor() && !loading()) {
        <button type="button" class="more" (click)="loadMore()">Load older posts</button>
      }
    </section>
  `,
})
export class Feed {
  private readonly api = inject(Api);
  readonly live = inject(Live);

  readonly posts = signal<Post[]>([]);
  readonly nextCursor = signal<string | null>(null);
  readonly loading = signal(false);
  readonly error = signal<string | null>(null);
  readonly announcement = signal('');

  constructor() {
    this.live.posts.pipe(takeUntilDestroyed(inject(DestroyRef))).subscribe((post) => {
      this.add(post);
      this.announcement.set(`New post from ${post.author.display_name || post.author.username}`);
    });
    // After a dropped connection, the first page again catches the posts that went by meanwhile.
    this.live.resumed.pipe(takeUntilDestroyed(inject(DestroyRef))).subscribe(() => this.fetch(null));
    this.fetch(null);
  }

  /** Puts a post on top unless it is already shown (live events can repeat a fetched post). */
  add(post: Post): void {
    this.posts.update((posts) => (posts.some((shown) => shown.id === post.id) ? posts : [post, ...posts]));
  }

  loadMore(): void {
    this.fetch(this.nextCursor());
  }

  retry(): void {
    this.fetch(this.posts().length ? this.nextCursor() : null);
  }

  private fetch(cursor: string | null): void {
    this.loading.set(true);
    this.error.set(null);
    this.api.feed(cursor).subscribe({
      next: (page) => {
        // A refresh of the first page must not rewind "Load older" when older pages are shown.
        const refreshing = cursor === null && this.posts().length > 0;
        this.posts.update((posts) => {
          const shown = new Set(posts.map((post) => post.id));
          const fresh = page.items.filter((post) => !shown.has(post.id));
          return cursor ? [...posts, ...fresh] : [...posts, ...fresh].sort(newestFirst);
        });
        if (!refreshing) {
          this.nextCursor.set(page.next_cursor);
        }
        this.loading.set(false);
      },
      error: (error: unknown) => {
        this.error.set(errorMessage(error));
        this.loading.set(false);
      },
    });
  }
}

function newestFirst(a: Post, b: Post): number {
  return b.created_at.localeCompare(a.created_at) || b.id - a.id;
}
