import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';

import { Api } from '../../core/api';
import { errorMessage } from '../../core/api-error';
import { Post, User } from '../../core/api-types';
import { Session } from '../../core/session';
import { PostCard } from '../../shared/post-card/post-card';

@Component({
  selector: 'app-profile',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [PostCard, FormsModule],
  template: `
    @if (loading()) {
      <h1 tabindex="-1">&#64;{{ username() }}</h1>
      <p class="muted" role="status">Loading profile…</p>
    } @else if (loadError()) {
      <h1 tabindex="-1">&#64;{{ username() }}</h1>
      <div class="card" role="alert">
        <p class="error">{{ loadError() }}</p>
        <button type="button" (click)="load()">Try again</button>
      </div>
    } @else if (user(); as user) {
      <section class="card profile">
        <h1 tabindex="-1">{{ user.display_name || user.username }}</h1>
        <p class="muted">&#64;{{ user.username }}</p>
        @if (user.bio) {
          <p class="bio">{{ user.bio }}</p>
        }
        <p>
          <strong data-testid="followers">{{ user.followers }}</strong> followers ·
          <strong>{{ user.following }}</strong> following
        </p>
        @if (isMe()) {
          @if (editing()) {
            <form (submit)="save($event)" novalidate>
              <div class="field">
                <label for="profile-name">Display name</label>
                <input id="profile-name" name="display_name" maxlength="50" [(ngModel)]="nameDraft" />
              </div>
              <div class="field">
                <label for="profile-bio">Bio</label>
                <textarea id="profile-bio" name="bio" rows="3" maxlength="500" [(ngModel)]="bioDraft"></textarea>
              </div>
              <button type="submit" class="primary" [disabled]="busy()">Save</button>
              <button type="button" (click)="editing.set(false)">Cancel</button>
            </form>
          } @else {
            <button type="button" (click)="startEditing(user)">Edit profile</button>
          }
        } @else {
          <button
            type="button"
            [class.primary]="!user.is_following"
            [attr.aria-pressed]="user.is_following"
            [disabled]="busy()"
            (click)="toggleFollow(user)"
          >
            {{ user.is_following ? 'Unfollow' : 'Follow' }}
          </button>
        }
        @if (actionError()) {
          <p class="error" role="alert">{{ actionError() }}</p>
        }
      </section>
      <section aria-labelledby="profile-posts-title">
        <h2 id="profile-posts-title">Posts</h2>
        @for (post of posts(); track post.id) {
          <app-post-card [post]="post" />
        } @empty {
          @if (!postsLoading()) {
            <p class="muted">No posts yet.</p>
          }
        }
        @if (postsLoading()) {
          <p class="muted" role="status">Loading posts…</p>
        }
        @if (postsError()) {
          <p class="error" role="alert">{{ postsError() }}</p>
        }
        @if (nextCursor() && !postsLoading()) {
          <button type="button" class="more" (click)="loadPosts(nextCursor())">Load older posts</button>
        }
      </section>
    }
  `,
})
export class Profile {
  private readonly api = inject(Api);
  private readonly session = inject(Session);

  /** The route's `:username`. */
  readonly username = input.required<string>();
  readonly user = signal<User | null>(null);
  readonly loading = signal(true);
  readonly loadError = signal<string | null>(null);
  readonly busy = signal(false);
  readonly actionError = signal<string | null>(null);
  readonly posts = signal<Post[]>([]);
  readonly nextCursor = signal<string | null>(null);
  readonly postsLoading = signal(false);
  readonly postsError = signal<string | null>(null);
  readonly editing = signal(false);
  readonly isMe = computed(() => this.user()?.id === this.session.user()?.id);
  nameDraft = '';
  bioDraft = '';

  constructor() {
    effect(() => {
      this.username();
      this.load();
    });
  }

  load(): void {
    this.loading.set(true);
    this.loadError.set(null);
    this.posts.set([]);
    this.api.user(this.username()).subscribe({
      next: (user) => {
        this.user.set(user);
        this.loading.set(false);
        this.loadPosts(null);
      },
      error: (error: unknown) => {
        this.loadError.set(errorMessage(error));
        this.loading.set(false);
      },
    });
  }

  loadPosts(cursor: string | null): void {
    this.postsLoading.set(true);
    this.postsError.set(null);
    this.api.userPosts(this.username(), cursor).subscribe({
      next: (page) => {
        this.posts.update((posts) => (cursor ? [...posts, ...page.items] : page.items));
        this.nextCursor.set(page.next_cursor);
        this.postsLoading.set(false);
      },
      error: (error: unknown) => {
        this.postsError.set(errorMessage(error));
        this.postsLoading.set(false);
      },
    });
  }

  toggleFollow(user: User): void {
    this.busy.set(true);
    this.actionError.set(null);
    const request = user.is_following ? this.api.unfollow(user.username) : this.api.follow(user.username);
    request.subscribe({
      next: (updated) => {
        this.user.set(updated);
        this.busy.set(false);
      },
      error: (error: unknown) => {
        this.actionError.set(errorMessage(error));
        this.busy.set(false);
      },
    });
  }

  startEditing(user: User): void {
    this.nameDraft = user.display_name;
    this.bioDraft = user.bio;
    this.editing.set(true);
  }

  save(event: Event): void {
    event.preventDefault();
    this.busy.set(true);
    this.actionError.set(null);
    this.api.updateMe({ display_name: this.nameDraft, bio: this.bioDraft }).subscribe({
      next: (user) => {
        this.user.set(user);
        this.session.replaceUser(user);
        this.editing.set(false);
        this.busy.set(false);
      },
      error: (error: unknown) => {
        this.actionError.set(errorMessage(error));
        this.busy.set(false);
      },
    });
  }
}
