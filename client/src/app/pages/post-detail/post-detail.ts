import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal } from '@angular/core';
import { Router, RouterLink } from '@angular/router';
import { forkJoin } from 'rxjs';

import { Api } from '../../core/api';
import { errorMessage } from '../../core/api-error';
import { Comment, Post } from '../../core/api-types';
import { Session } from '../../core/session';
import { MentionTextarea } from '../../shared/mention-textarea/mention-textarea';
import { PostCard } from '../../shared/post-card/post-card';

@Component({
  selector: 'app-post-detail',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [PostCard, MentionTextarea, RouterLink, DatePipe],
  template: `
    <h1 tabindex="-1">Post</h1>
    @if (loading()) {
      <p class="muted" role="status">Loading post…</p>
    } @else if (loadError()) {
      <div class="card" role="alert">
        <p class="error">{{ loadError() }}</p>
        <button type="button" (click)="load()">Try again</button>
      </div>
    } @else if (post(); as post) {
      <app-post-card [post]="post" [linked]="false" />
      @if (isMine()) {
        <button type="button" class="danger" (click)="remove(post)" [disabled]="deleting()">
          {{ deleting() ? 'Deleting…' : 'Delete post' }}
        </button>
      }
      <section aria-labelledby="comments-title">
        <h2 id="comments-title">Comments ({{ comments().length }})</h2>
        @for (comment of comments(); track comment.id) {
          <article class="card comment">
            <header class="post-head">
              <a [routerLink]="['/u', comment.author.username]"><strong>{{ comment.author.display_name || comment.author.username }}</strong></a>
              <time class="muted small" [attr.datetime]="comment.created_at">{{ comment.created_at | date: 'medium' }}</time>
            </header>
            <div class="body" [innerHTML]="comment.html"></div>
          </article>
        } @empty {
          <p class="muted">No comments yet.</p>
        }
        <form class="card" (submit)="addComment($event, post)" novalidate>
          <app-mention-textarea label="Add a comment" [rows]="3" [(value)]="draft" />
          @if (commentError()) {
            <p class="error" role="alert">{{ commentError() }}</p>
          }
          <button type="submit" class="primary" [disabled]="!draft().trim() || sending()">
            {{ sending() ? 'Sending…' : 'Comment' }}
          </button>
        </form>
      </section>
    }
  `,
})
export class PostDetail {
  private readonly api = inject(Api);
  private readonly router = inject(Router);
  private readonly session = inject(Session);

  /** The route's `:id`. */
  readonly id = input.required<string>();
  readonly post = signal<Post | null>(null);
  readonly comments = signal<Comment[]>([]);
  readonly loading = signal(true);
  readonly loadError = signal<string | null>(null);
  readonly draft = signal('');
  readonly sending = signal(false);
  readonly commentError = signal<string | null>(null);
  readonly deleting = signal(false);
  readonly isMine = computed(() => this.post()?.author.id === this.session.user()?.id);

  constructor() {
    effect(() => {
      this.id();
      this.load();
    });
  }

  load(): void {
    const id = Number(this.id());
    if (!Number.isInteger(id) || id <= 0) {
      this.loading.set(false);
      this.loadError.set(`"${this.id()}" is not a post number.`);
      return;
    }
    this.loading.set(true);
    this.loadError.set(null);
    forkJoin({ post: this.api.post(id), comments: this.api.comments(id) }).subscribe({
      next: ({ post, comments }) => {
        this.post.set(post);
        this.comments.set(comments);
        this.loading.set(false);
      },
      error: (error: unknown) => {
        this.loadError.set(errorMessage(error));
        this.loading.set(false);
      },
    });
  }

  addComment(event: Event, post: Post): void {
    event.preventDefault();
    const body = this.draft().trim();
    if (!body || this.sending()) {
      return;
    }
    this.sending.set(true);
    this.commentError.set(null);
    this.api.addComment(post.id, body).subscribe({
      next: (comment) => {
        this.comments.update((comments) => [...comments, comment]);
        this.post.set({ ...post, comment_count: post.comment_count + 1 });
        this.draft.set('');
        this.sending.set(false);
      },
      error: (error: unknown) => {
        this.commentError.set(errorMessage(error));
        this.sending.set(false);
      },
    });
  }

  remove(post: Post): void {
    if (!confirm('Delete this post?')) {
      return;
    }
    this.deleting.set(true);
    this.api.deletePost(post.id).subscribe({
      next: () => void this.router.navigateByUrl('/'),
      error: (error: unknown) => {
        this.deleting.set(false);
        this.loadError.set(errorMessage(error));
      },
    });
  }
}
