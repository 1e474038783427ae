import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, input } from '@angular/core';
import { RouterLink } from '@angular/router';

import { Post } from '../../core/api-types';

/** One post as shown in feeds and on profiles; `linked` adds the link to its detail page. */
@Component({
  selector: 'app-post-card',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [RouterLink, DatePipe],
  template: `
    <article class="card post" [attr.aria-labelledby]="'post-' + post().id + '-author'">
      <header class="post-head">
        <a [id]="'post-' + post().id + '-author'" [routerLink]="['/u', post().author.username]" class="author">
          {{ post().author.display_name || post().author.username }}
        </a>
        <span class="muted">&#64;{{ post().author.username }}</span>
        <time class="muted" [attr.datetime]="post().created_at">{{ post().created_at | date: 'medium' }}</time>
      </header>
      <!-- The server sanitises html; Angular's sanitizer runs again on binding. -->
      <div class="body" [innerHTML]="post().html"></div>
      @if (post().image_url) {
        <img class="post-image" [src]="post().image_url" alt="Image attached by {{ post().author.username }}" loading="lazy" />
      }
      @if (linked()) {
        <footer>
          <a [routerLink]="['/p', post().id]">
            {{ post().comment_count }} {{ post().comment_count === 1 ? 'comment' : 'comments' }}
          </a>
        </footer>
      }
    </article>
  `,
  styles: `
    .post-head { display: flex; flex-wrap: wrap; gap: 0.25rem 0.5rem; align-items: baseline; }
    .author { font-weight: 600; }
    .body { overflow-wrap: anywhere; }
    .post-image { display: block; max-width: 100%; height: auto; border-radius: 6px; margin: 0.5rem 0; }
  `,
})
export class PostCard {
  readonly post = input.required<Post>();
  readonly linked = input(true);
}
